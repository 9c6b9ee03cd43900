//! Which rating plan rates which part of a call: the subject's rating
//! profile, split at plan activation times, falling back to the
//! activation's fallback subjects (up to depth 3) and finally to `*any`.

use crate::descriptor::CallDescriptor;
use crate::error::RatingError;
use crate::tariff::{RateInterval, RatingPlan, TariffPlan};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// How deep fallback subjects are followed (the subject itself is depth 0).
pub const MAX_FALLBACK_DEPTH: usize = 3;

/// A stretch of the call rated by one plan for one destination.
#[derive(Debug, Clone)]
pub(crate) struct RatedPiece<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub plan: &'a Arc<RatingPlan>,
    pub intervals: &'a [Arc<RateInterval>],
    pub subject: Arc<str>,
    pub prefix: Arc<str>,
    pub destination: Arc<str>,
}

impl TariffPlan {
    /// Fills `out` with the pieces covering the call, in time order.
    pub(crate) fn resolve<'a>(
        &'a self,
        cd: &CallDescriptor,
        out: &mut Vec<RatedPiece<'a>>,
    ) -> Result<(), RatingError> {
        let subject = cd.rating_subject();
        let first = match self.resolve_subject(cd, subject, cd.time_start, cd.time_end, 0, out) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if subject == "*any" {
            return Err(first);
        }
        match self.resolve_subject(cd, "*any", cd.time_start, cd.time_end, 0, out) {
            Ok(()) => Ok(()),
            Err(any) if first == RatingError::RatingPlanNotFound => Err(any),
            Err(_) => Err(first),
        }
    }

    fn resolve_subject<'a>(
        &'a self,
        cd: &CallDescriptor,
        subject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        depth: usize,
        out: &mut Vec<RatedPiece<'a>>,
    ) -> Result<(), RatingError> {
        let profile = self
            .profile(&cd.tenant, &cd.category, subject)
            .ok_or(RatingError::RatingPlanNotFound)?;
        let acts = &profile.activations;
        let started = acts.partition_point(|a| a.at <= start);
        if started == 0 {
            return Err(RatingError::RatingPlanNotFound);
        }
        let mark = out.len();
        let mut i = started - 1;
        let mut piece_start = start;
        loop {
            let act = &acts[i];
            let piece_end = acts.get(i + 1).map_or(end, |next| next.at.min(end));
            match act
                .plan
                .match_destination(&self.destinations, &cd.destination)
            {
                Some(m) => out.push(RatedPiece {
                    start: piece_start,
                    end: piece_end,
                    plan: &act.plan,
                    intervals: m.intervals,
                    subject: profile.key.clone(),
                    prefix: m.prefix.clone(),
                    destination: m.destination.clone(),
                }),
                None => {
                    let covered = depth < MAX_FALLBACK_DEPTH
                        && act.fallback_subjects.iter().any(|fallback| {
                            let before = out.len();
                            let ok = self
                                .resolve_subject(
                                    cd,
                                    fallback,
                                    piece_start,
                                    piece_end,
                                    depth + 1,
                                    out,
                                )
                                .is_ok();
                            if !ok {
                                out.truncate(before);
                            }
                            ok
                        });
                    if !covered {
                        out.truncate(mark);
                        return Err(RatingError::UnauthorizedDestination);
                    }
                }
            }
            piece_start = piece_end;
            i += 1;
            if piece_start >= end {
                return Ok(());
            }
        }
    }
}
