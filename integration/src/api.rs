//! API commands (`api …`, `bgapi …`) with the texts of `mod_commands.c`,
//! plus a few simulator-only `sim_*` commands.
//!
//! Each command runs under the core lock, so its effects (a hangup's events)
//! are queued before the answer. Only `msleep` takes time, and it is what
//! shows that `api` blocks its connection's events while it runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::cause::{self, cause2str, str2cause};
use crate::core::Core;
use crate::events::{self, put};
use crate::record::HangupBy;
use crate::scenario::CallSpec;
use crate::switch::Shared;

/// `switch_separate_string(s, ' ', argv, max)`: at most `max` words, the
/// last one keeping the rest of the line.
fn separate(s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(' ');
    while !rest.is_empty() {
        if out.len() + 1 == max {
            out.push(rest);
            break;
        }
        match rest.split_once(' ') {
            Some((w, r)) => {
                out.push(w);
                rest = r.trim_start_matches(' ');
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// Runs `cmd` with `arg` (both as `api_exec` splits them) and fires the
/// API event, as `switch_api_execute` does. Returns the output text.
pub(crate) async fn execute(shared: &Arc<Shared>, cmd: &str, arg: Option<&str>) -> String {
    let cmd = cmd.trim();
    let arg = arg.map(str::trim).filter(|a| !a.is_empty());
    let name = cmd.to_ascii_lowercase();
    let out = match name.as_str() {
        "msleep" => {
            let ms: u64 = arg.and_then(|a| a.parse().ok()).unwrap_or(0);
            shared.clock.sleep(Duration::from_millis(ms)).await;
            "+OK".to_owned()
        }
        "sim_call" => sim_call(shared, arg),
        "originate" => originate(shared, arg).await,
        // mod_commands' `bgapi` as an api command (`api bgapi originate …`).
        "bgapi" => match arg {
            None => "-ERR Invalid syntax\n".to_owned(),
            Some(line) => {
                let job = crate::channel::new_uuid();
                let (name, rest) = match line.split_once(' ') {
                    Some((n, r)) => (n.to_owned(), Some(r.to_owned())),
                    None => (line.to_owned(), None),
                };
                spawn_bgapi(shared.clone(), name, rest, job.clone());
                format!("+OK Job-UUID: {job}\n")
            }
        },
        _ => {
            let mut core = shared.core();
            if core.failing.contains(&name) {
                let line = arg.map_or_else(|| name.clone(), |a| format!("{name} {a}"));
                core.refused.push(line);
                format!("-ERR {cmd} failed (simulated)\n")
            } else {
                run(&mut core, &name, arg)
                    .unwrap_or_else(|| format!("-ERR {cmd} Command not found!\n"))
            }
        }
    };
    let mut core = shared.core();
    let at = core.clock.now();
    let mut ev = core.base_event("API", at, events::SITE_API);
    if !cmd.is_empty() {
        put(&mut ev, "API-Command", cmd);
    }
    if let Some(a) = arg {
        put(&mut ev, "API-Command-Argument", a);
    }
    core.fire(ev);
    out
}

/// [`execute`], boxed (a `bgapi` may run any command, `bgapi` included).
fn execute_boxed(
    shared: Arc<Shared>,
    name: String,
    arg: Option<String>,
) -> Pin<Box<dyn Future<Output = String> + Send>> {
    Box::pin(async move { execute(&shared, &name, arg.as_deref()).await })
}

/// Runs `name arg` in a task of its own; its output comes back as a
/// BACKGROUND_JOB event with `Job-UUID: job`.
pub(crate) fn spawn_bgapi(shared: Arc<Shared>, name: String, arg: Option<String>, job: String) {
    tokio::spawn(async move {
        let out = execute_boxed(shared.clone(), name.clone(), arg.clone()).await;
        let mut core = shared.core();
        let at = core.clock.now();
        let mut ev = core.base_event("BACKGROUND_JOB", at, events::SITE_BGJOB);
        put(&mut ev, "Job-UUID", &job);
        put(&mut ev, "Job-Command", &name);
        if let Some(a) = &arg {
            put(&mut ev, "Job-Command-Arg", a);
        }
        let body = if out.is_empty() {
            "Command returned no output!".to_owned()
        } else {
            out
        };
        core.fire(ev.with_body(body));
    });
}

/// A command line run by the scheduler (`sched_api`), as `sch_api_callback`
/// runs it through `switch_api_execute`: the synchronous commands only.
pub(crate) fn run_line(core: &mut Core, line: &str) -> String {
    let (cmd, arg) = match line.trim().split_once(' ') {
        Some((c, a)) => (c, Some(a.trim()).filter(|a| !a.is_empty())),
        None => (line.trim(), None),
    };
    let out = run(core, &cmd.to_ascii_lowercase(), arg)
        .unwrap_or_else(|| format!("-ERR {cmd} Command not found!\n"));
    let at = core.now();
    let mut ev = core.base_event("API", at, events::SITE_API);
    put(&mut ev, "API-Command", cmd);
    if let Some(a) = arg {
        put(&mut ev, "API-Command-Argument", a);
    }
    core.fire(ev);
    out
}

/// `originate {k=v,…}loopback/<dest>[/<context>] <app>`: the loopback pair
/// of the recordings, through the minimal dialplan of
/// `testdata/freeswitch-1.10/dialplan_prepaid.xml`. Answers, as the switch
/// does, once the `-a` leg is answered (`+OK <-a uuid>`) or gone
/// (`-ERR <cause>`).
async fn originate(shared: &Arc<Shared>, arg: Option<&str>) -> String {
    let usage = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n";
    let Some(arg) = arg else {
        return usage.into();
    };
    let url = arg.split(' ').next().unwrap_or("");
    let (vars, url) = match url.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((v, rest)) => (v, rest),
        None => ("", url),
    };
    let mut partner = crate::scenario::Vars::new();
    for kv in vars.split(',').filter(|kv| !kv.is_empty()) {
        if let Some((k, v)) = kv.split_once('=') {
            partner.set(k, v);
        }
    }
    let Some(rest) = url.strip_prefix("loopback/") else {
        return "-ERR CHAN_NOT_IMPLEMENTED\n".into();
    };
    let (dest, context) = match rest.split_once('/') {
        Some((d, c)) => (d, c),
        None => (rest, "default"),
    };
    let caller = partner
        .get("origination_caller_id_number")
        .unwrap_or("0000000000")
        .to_owned();
    // dialplan_prepaid.xml, context `prepaid`, extension park_for_tollgate.
    let routable = context == "prepaid"
        && dest.len() > 1
        && dest.starts_with('0')
        && dest.bytes().all(|b| b.is_ascii_digit());
    if !routable {
        return "-ERR NO_ROUTE_DESTINATION\n".into();
    }
    let mut spec = CallSpec::new(&caller, dest)
        .context(context)
        .loopback()
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_tenant", "cgrates.org")
        .var("cgr_account", &caller)
        .var("cgr_destination", dest)
        .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
        .ring(0.0)
        .talk_forever();
    spec.partner_variables = partner;
    let main = match shared.place(spec) {
        Ok(u) => u,
        Err(e) => return format!("-ERR {e}\n"),
    };
    let Some(a) = shared
        .core()
        .record(&main)
        .and_then(|r| r.legs.first().cloned())
    else {
        return "-ERR DESTINATION_OUT_OF_ORDER\n".into();
    };
    loop {
        if let Some(r) = shared.core().record(&a) {
            if r.answered {
                return format!("+OK {a}\n");
            }
            if let Some(cause) = r.hangup_cause {
                return format!("-ERR {cause}\n");
            }
        }
        tokio::select! {
            _ = shared.root.cancelled() => return "-ERR SYSTEM_SHUTDOWN\n".into(),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

fn sim_call(shared: &Arc<Shared>, arg: Option<&str>) -> String {
    let spec: CallSpec = match serde_json::from_str(arg.unwrap_or("{}")) {
        Ok(s) => s,
        Err(e) => return format!("-ERR {e}\n"),
    };
    match shared.place(spec) {
        Ok(uuid) => format!("+OK {uuid}\n"),
        Err(e) => format!("-ERR {e}\n"),
    }
}

/// The synchronous commands; `None` for an unknown one.
fn run(core: &mut Core, name: &str, arg: Option<&str>) -> Option<String> {
    let a = arg.unwrap_or("");
    let out = match name {
        "status" => status(core),
        // `strftime [format]`: the switch's local time, simulated. FreeSWITCH
        // 1.10 has no `%s`: `strftime %s` writes nothing, which the Event
        // Socket answers `-ERR no reply` (testdata/freeswitch-1.10).
        "strftime" => {
            let now = core.clock.now();
            let t = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(now).unwrap_or_default();
            let format = arg.unwrap_or("%Y-%m-%d %T");
            let mut out = String::new();
            use std::fmt::Write as _;
            if format.contains("%s") {
                out.clear();
            } else if write!(out, "{}", t.with_timezone(&chrono::Local).format(format)).is_err() {
                out = "-ERR invalid format".into();
            }
            out
        }
        // `strepoch [date]`: epoch seconds (now, or of a local `Y-m-d H:M:S`),
        // written with no newline.
        "strepoch" => match arg {
            None => core.clock.now().div_euclid(1_000_000).to_string(),
            Some(date) => chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S")
                .ok()
                .and_then(|d| d.and_local_timezone(chrono::Local).earliest())
                .map_or(0, |d| d.timestamp())
                .to_string(),
        },
        "version" => format!(
            "FreeSWITCH Version {} ({})\n",
            crate::VERSION,
            crate::VERSION_HUMAN
        ),
        "hostname" => core.id.hostname.clone(),
        "uuid_exists" => {
            if arg.is_some_and(|u| core.exists(u) || core.tearing_down(u, None)) {
                "true".into()
            } else {
                "false".into()
            }
        }
        "uuid_kill" => {
            if a.is_empty() {
                return Some("-USAGE: <uuid> [cause]\n".into());
            }
            let (uuid, kcause) = match a.split_once(' ') {
                Some((u, c)) => (u, c),
                None => (a, ""),
            };
            let cause = if kcause.is_empty() {
                cause::NORMAL_CLEARING
            } else {
                str2cause(kcause)
            };
            let (by, what) = match core.running_task() {
                Some(id) => (
                    HangupBy::SchedApi,
                    format!("sched_api task {id}: uuid_kill {}", cause2str(cause)),
                ),
                None => (
                    HangupBy::UuidKill,
                    format!("uuid_kill {}", cause2str(cause)),
                ),
            };
            if core.kill(uuid, cause, by, what.clone())
                || core.tearing_down(uuid, Some(format!("{what} (already hanging up)")))
            {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "sched_hangup" => {
            let argv = separate(a, 4);
            if argv.is_empty() || argv[0].is_empty() {
                return Some("-USAGE: [+]<time> <uuid> [<cause>]\n".into());
            }
            let cause = argv
                .get(2)
                .map_or(cause::ALLOTTED_TIMEOUT, |c| str2cause(c));
            let what = format!("sched_hangup {} {}", argv[0], cause2str(cause));
            match argv.get(1) {
                Some(uuid) if core.sched_hangup(uuid, argv[0], cause, what) => "+OK\n".into(),
                _ => "-ERR No such channel!\n".into(),
            }
        }
        // `sched_api [+@]<time> <group> <command>[&]`, as mod_commands parses it.
        "sched_api" => {
            let bad = "-ERR Invalid syntax. USAGE: [+@]<time> <group_name> <command_string>[&]\n";
            let Some((tm, rest)) = a.split_once(' ') else {
                return Some(bad.into());
            };
            let Some((group, line)) = rest.split_once(' ') else {
                return Some(bad.into());
            };
            let line = line.strip_suffix('&').unwrap_or(line);
            let now = core.now();
            let atol = |s: &str| -> i64 {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            };
            let (when, recur) = if let Some(n) = tm.strip_prefix('+') {
                (now + atol(n) * 1_000_000, 0)
            } else if let Some(n) = tm.strip_prefix('@') {
                let r = atol(n);
                (now + r * 1_000_000, r as u32)
            } else {
                (atol(tm) * 1_000_000, 0)
            };
            let id = core.sched_api(when, group, line, recur);
            format!("+OK Added: {id}\n")
        }
        "sched_del" => match arg {
            None => "-ERR Invalid syntax\n".into(),
            Some(what) => format!("+OK Deleted: {}\n", core.sched_del(what)),
        },
        "uuid_setvar" => {
            let argv = separate(a, 3);
            if !(argv.len() == 2 || argv.len() == 3) || argv[0].is_empty() {
                return Some("-USAGE: <uuid> <var> [value]\n".into());
            }
            if core.setvar(argv[0], argv[1], argv.get(2).copied()) {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "uuid_setvar_multi" => {
            let usage = "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n";
            let Some((uuid, vars)) = a.split_once(' ') else {
                return Some(usage.into());
            };
            if !core.exists(uuid) {
                return Some(format!("-ERR No such channel!\n{usage}"));
            }
            let mut out = String::new();
            let mut set = 0;
            for item in vars.split(';').filter(|s| !s.is_empty()).take(64) {
                let (name, value) = match item.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (item, None),
                };
                if name.is_empty() {
                    out.push_str("-ERR No variable specified\n");
                } else {
                    core.setvar(uuid, name, value);
                    set += 1;
                }
            }
            if set > 0 {
                out.push_str("+OK\n");
            } else {
                out.push_str(usage);
            }
            out
        }
        // `uuid_dump <uuid> [json]`: the channel's data, plain or JSON.
        "uuid_dump" => {
            let argv = separate(a, 3);
            if argv.is_empty() || argv[0].is_empty() {
                return Some("-USAGE: <uuid> [format]\n".into());
            }
            match core.dump(argv[0]) {
                None => "-ERR Cannot locate session!\n".into(),
                Some(ev) => {
                    let mut out = bytes::BytesMut::new();
                    let encoded = if argv.get(1) == Some(&"json") {
                        ev.encode_json(&mut out)
                    } else {
                        ev.encode_plain(&mut out)
                    };
                    match encoded {
                        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
                        Err(e) => format!("-ERR {e}\n"),
                    }
                }
            }
        }
        "uuid_getvar" => {
            let argv = separate(a, 4);
            if argv.len() < 2 || argv[0].is_empty() {
                return Some("-USAGE: <uuid> <var>\n".into());
            }
            match core.getvar(argv[0], argv[1]) {
                None => "-ERR No such channel!\n".into(),
                Some(None) => "_undef_".into(),
                Some(Some(v)) => v,
            }
        }
        "uuid_transfer" => {
            let usage = "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n";
            let argv = separate(a, 5);
            if argv.len() < 2 || argv.len() > 5 {
                return Some(usage.into());
            }
            if !core.exists(argv[0]) {
                return Some("-ERR No such channel!\n".into());
            }
            let rest = if argv[1].starts_with('-') {
                &argv[2..]
            } else {
                &argv[1..]
            };
            let Some(dest) = rest.first() else {
                return Some("-ERR\n".into());
            };
            core.transfer_uuid(argv[0], dest, rest.get(1).copied(), rest.get(2).copied());
            "+OK\n".into()
        }
        "uuid_broadcast" => {
            let argv = separate(a, 4);
            if argv.len() < 2 {
                return Some("-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n".into());
            }
            let legs = argv.get(2).copied().unwrap_or("aleg");
            if core.note(argv[0], format!("uuid_broadcast {} {legs}", argv[1])) {
                "+OK Message sent\n".into()
            } else {
                "-ERR invalid uuid\n".into()
            }
        }
        "uuid_answer" => {
            if core.answer_uuid(a) {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "hupall" => {
            let argv = separate(a, 11);
            let cause = match argv.first() {
                Some(c) => match str2cause(c) {
                    0 => cause::MANAGER_REQUEST,
                    n => n,
                },
                None => cause::MANAGER_REQUEST,
            };
            let mut pairs = Vec::new();
            let mut i = 1;
            while i + 1 < argv.len() {
                if !argv[i].is_empty() && !argv[i + 1].is_empty() {
                    pairs.push((argv[i].to_owned(), argv[i + 1].to_owned()));
                }
                i += 2;
            }
            core.hupall(cause, &pairs, &format!("hupall {}", cause2str(cause)));
            match pairs.len() {
                0 => format!("+OK hangup all channels with cause {}\n", cause2str(cause)),
                1 => format!(
                    "+OK hangup all channels matching [{}]=[{}] with cause: {}\n",
                    argv[1],
                    argv[2],
                    cause2str(cause)
                ),
                _ => format!(
                    "+OK hangup all channels matching [{}]=[{}]... with cause: {}\n",
                    argv[1],
                    argv[2],
                    cause2str(cause)
                ),
            }
        }
        "show" => show(core, a),
        "sim_records" => {
            serde_json::to_string(&core.records()).unwrap_or_else(|e| format!("-ERR {e}")) + "\n"
        }
        "sim_cdr_posts" => {
            let posts = match &core.cdr {
                Some(sink) => sink.posts.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                None => Vec::new(),
            };
            serde_json::to_string(&posts).unwrap_or_else(|e| format!("-ERR {e}")) + "\n"
        }
        "sim_record" => match core.record(a) {
            Some(r) => serde_json::to_string(&r).unwrap_or_else(|e| format!("-ERR {e}")) + "\n",
            None => "-ERR No such call\n".into(),
        },
        "sim_hangup" => {
            let leg = core.caller_leg(a);
            if core.kill(
                &leg,
                cause::NORMAL_CLEARING,
                HangupBy::Caller,
                "sim_hangup".into(),
            ) {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        _ => return None,
    };
    Some(out)
}

fn status(core: &Core) -> String {
    let up = events::uptime_text(core.clock.uptime());
    let peak = core.peak();
    format!(
        "UP {up}\nFreeSWITCH (Version {}) is ready\n{} session(s) since startup\n{} session(s) - peak {peak}, last 5min {peak} \n0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n{} session(s) max\nmin idle cpu 0.00/99.00\nCurrent Stack Size/Max 240K/8192K\n",
        crate::VERSION_HUMAN,
        core.sessions_total(),
        core.active_count(),
        core.max_sessions,
    )
}

const SHOW_USAGE: &str = "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n";

/// `show channels [count] [as json]` (and `calls`, answered the same way).
fn show(core: &Core, arg: &str) -> String {
    let words: Vec<&str> = arg.split(' ').filter(|w| !w.is_empty()).collect();
    let Some(what) = words.first().map(|w| w.to_ascii_lowercase()) else {
        return SHOW_USAGE.into();
    };
    if what != "channels" && what != "calls" {
        return SHOW_USAGE.into();
    }
    let count_only = words
        .get(1)
        .is_some_and(|w| w.eq_ignore_ascii_case("count"));
    let format = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("as"))
        .and_then(|i| words.get(i + 1))
        .map(|f| f.to_ascii_lowercase());
    let channels = core.channel_table();
    if count_only {
        return format!("\n{} total.\n", channels.len());
    }
    match format.as_deref() {
        None | Some("delim") => {
            let mut out = String::new();
            for (i, ch) in channels.iter().enumerate() {
                let row = ch.show_row(&core.id.hostname);
                if i == 0 {
                    let names: Vec<&str> = row.iter().map(|(k, _)| *k).collect();
                    out.push_str(&names.join(","));
                    out.push('\n');
                }
                let vals: Vec<&str> = row.iter().map(|(_, v)| v.as_str()).collect();
                out.push_str(&vals.join(","));
                out.push('\n');
            }
            out.push_str(&format!("\n{} total.\n", channels.len()));
            out
        }
        Some("json") => {
            if channels.is_empty() {
                return "{\"row_count\": 0}\n".into();
            }
            // cJSON_PrintUnformatted, columns in table order.
            let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let rows: Vec<String> = channels
                .iter()
                .map(|ch| {
                    let cols: Vec<String> = ch
                        .show_row(&core.id.hostname)
                        .iter()
                        .map(|(k, v)| format!("{}:{}", q(k), q(v)))
                        .collect();
                    format!("{{{}}}", cols.join(","))
                })
                .collect();
            format!(
                "{{\"row_count\":{},\"rows\":[{}]}}",
                channels.len(),
                rows.join(",")
            )
        }
        Some(other) => format!("-ERR Cannot find format {other}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_like_the_switch() {
        assert_eq!(separate("a  b c d", 3), vec!["a", "b", "c d"]);
        assert_eq!(separate("", 3), Vec::<&str>::new());
        assert_eq!(separate("+60 u1", 4), vec!["+60", "u1"]);
    }
}
