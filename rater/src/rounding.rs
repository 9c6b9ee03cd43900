//! CGRateS rounding methods applied to exact decimal money.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a cost is rounded to its `RoundingDecimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum RoundingMethod {
    /// Away from zero: any remainder rounds up (`*up`).
    #[serde(rename = "*up")]
    Up,
    /// Toward zero: the remainder is dropped (`*down`).
    #[serde(rename = "*down")]
    Down,
    /// Half away from zero (`*middle`), CGRateS's default.
    #[default]
    #[serde(rename = "*middle")]
    Middle,
}

impl RoundingMethod {
    /// The CGRateS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RoundingMethod::Up => "*up",
            RoundingMethod::Down => "*down",
            RoundingMethod::Middle => "*middle",
        }
    }

    /// Rounds `value` to `decimals` places with this method.
    pub fn round(self, value: Decimal, decimals: u32) -> Decimal {
        let strategy = match self {
            RoundingMethod::Up => RoundingStrategy::AwayFromZero,
            RoundingMethod::Down => RoundingStrategy::ToZero,
            RoundingMethod::Middle => RoundingStrategy::MidpointAwayFromZero,
        };
        value.round_dp_with_strategy(decimals, strategy).normalize()
    }
}

impl fmt::Display for RoundingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoundingMethod {
    type Err = String;

    /// Accepts the three CGRateS words; an empty string means `*middle`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "*up" => Ok(RoundingMethod::Up),
            "*down" => Ok(RoundingMethod::Down),
            "*middle" | "" => Ok(RoundingMethod::Middle),
            other => Err(format!(
                "unknown rounding method {other:?} (expected *up, *down or *middle)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounds_each_way() {
        assert_eq!(RoundingMethod::Up.round(dec!(0.70021), 4), dec!(0.7003));
        assert_eq!(RoundingMethod::Down.round(dec!(0.70029), 4), dec!(0.7002));
        assert_eq!(RoundingMethod::Middle.round(dec!(0.70025), 4), dec!(0.7003));
        assert_eq!(RoundingMethod::Middle.round(dec!(0.70024), 4), dec!(0.7002));
        assert_eq!(RoundingMethod::Up.round(dec!(0.7), 4), dec!(0.7));
    }

    #[test]
    fn negative_values_round_symmetrically() {
        assert_eq!(RoundingMethod::Up.round(dec!(-0.11), 1), dec!(-0.2));
        assert_eq!(RoundingMethod::Down.round(dec!(-0.19), 1), dec!(-0.1));
    }

    #[test]
    fn parses_cgrates_words() {
        assert_eq!("*up".parse::<RoundingMethod>(), Ok(RoundingMethod::Up));
        assert_eq!("".parse::<RoundingMethod>(), Ok(RoundingMethod::Middle));
        assert!("*sideways".parse::<RoundingMethod>().is_err());
    }
}
