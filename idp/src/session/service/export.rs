//! Exports of sessions and audit events as CSV or JSON lines, streamed a page at a time so a
//! million rows use the memory of one page (keyset pagination, no OFFSET). People read names:
//! usernames, public `sid`s and client ids replace internal row ids. Times are RFC 3339 UTC.
//! CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) are
//! prefixed with `'` (OWASP "CSV injection").

use crate::app::State;
use crate::error::{internal, Result};
use crate::model::Tenant;
use crate::store;
use futures::Stream;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const PAGE: u64 = 1000;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json-lines" => Some(Format::JsonLines),
            _ => None,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/x-ndjson",
        }
    }
}

fn rfc3339(secs: i64) -> Value {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

fn rfc3339_ms(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

/// Render rows (objects with `columns` keys) in a format; the header comes with the first page.
fn render(
    format: Format,
    columns: &[&str],
    rows: &[Map<String, Value>],
    header: bool,
) -> Result<Vec<u8>> {
    match format {
        Format::JsonLines => {
            let mut out = Vec::new();
            for r in rows {
                serde_json::to_writer(&mut out, r)?;
                out.push(b'\n');
            }
            Ok(out)
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            if header {
                w.write_record(columns)
                    .map_err(|e| internal(e.to_string()))?;
            }
            for r in rows {
                let rec: Vec<String> = columns
                    .iter()
                    .map(|c| cell(r.get(*c).unwrap_or(&Value::Null)))
                    .collect();
                w.write_record(&rec).map_err(|e| internal(e.to_string()))?;
            }
            w.into_inner().map_err(|e| internal(e.to_string()))
        }
    }
}

pub const SESSION_COLUMNS: &[&str] = &[
    "sid",
    "username",
    "state",
    "mode",
    "created_at",
    "auth_time",
    "last_active_at",
    "idle_deadline",
    "absolute_deadline",
    "scheduled_end_at",
    "ended_at",
    "end_reason",
    "acr",
    "amr",
    "ip",
    "user_agent",
    "device_id",
];

pub const EVENT_COLUMNS: &[&str] = &[
    "at",
    "kind",
    "actor",
    "outcome",
    "username",
    "sid",
    "client_id",
    "ip",
    "user_agent",
    "detail",
];

async fn usernames(
    state: &State,
    tenant_id: &str,
    ids: Vec<String>,
) -> Result<HashMap<String, String>> {
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Ok(store::users::list_by_ids(&state.db, tenant_id, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

struct Cursor {
    state: State,
    tenant: Tenant,
    format: Format,
    active_only: bool,
    after: Option<(i64, String)>,
    first: bool,
    done: bool,
}

/// Every session of a tenant (or only active ones), oldest first.
pub fn sessions(
    state: State,
    tenant: Tenant,
    format: Format,
    active_only: bool,
) -> impl Stream<Item = Result<Vec<u8>>> + Send {
    let c = Cursor {
        state,
        tenant,
        format,
        active_only,
        after: None,
        first: true,
        done: false,
    };
    futures::stream::unfold(c, |mut c| async move {
        if c.done {
            return None;
        }
        let page = sessions_page(&mut c).await;
        if page.is_err() {
            c.done = true;
        }
        Some((page, c))
    })
}

async fn sessions_page(c: &mut Cursor) -> Result<Vec<u8>> {
    let rows = store::sessions::list_page_by_creation(
        &c.state.read,
        &c.tenant.id,
        c.active_only,
        c.after.as_ref().map(|(a, id)| (*a, id.as_str())),
        PAGE,
    )
    .await?;
    if (rows.len() as u64) < PAGE {
        c.done = true;
    }
    c.after = rows.last().map(|r| (r.created_at, r.id.clone()));
    let names = usernames(
        &c.state,
        &c.tenant.id,
        rows.iter().map(|r| r.user_id.clone()).collect(),
    )
    .await?;
    let mut out: Vec<Map<String, Value>> = Vec::with_capacity(rows.len());
    for r in rows {
        let amr: Value = serde_json::from_str(&r.amr)
            .map_err(|e| internal(format!("session {}: stored amr: {e}", r.id)))?;
        let v = json!({
            "sid": r.sid,
            "username": names.get(&r.user_id).cloned().unwrap_or_default(),
            "state": r.state, "mode": r.mode,
            "created_at": rfc3339(r.created_at), "auth_time": rfc3339(r.auth_time),
            "last_active_at": rfc3339(r.last_active_at),
            "idle_deadline": rfc3339(r.idle_deadline),
            "absolute_deadline": rfc3339(r.absolute_deadline),
            "scheduled_end_at": r.scheduled_end_at.map(rfc3339),
            "ended_at": r.ended_at.map(rfc3339), "end_reason": r.end_reason,
            "acr": r.acr, "amr": amr, "ip": r.ip, "user_agent": r.user_agent,
            "device_id": r.device_id,
        });
        if let Value::Object(m) = v {
            out.push(m);
        }
    }
    let header = std::mem::replace(&mut c.first, false);
    render(c.format, SESSION_COLUMNS, &out, header)
}

struct EventCursor {
    state: State,
    tenant: Tenant,
    format: Format,
    filter: store::audit::EventFilter,
    after: Option<(i64, String)>,
    first: bool,
    done: bool,
    sids: HashMap<String, String>,
}

/// Audit events of a tenant in time order, filtered.
pub fn events(
    state: State,
    tenant: Tenant,
    format: Format,
    filter: store::audit::EventFilter,
) -> impl Stream<Item = Result<Vec<u8>>> + Send {
    let c = EventCursor {
        state,
        tenant,
        format,
        filter,
        after: None,
        first: true,
        done: false,
        sids: HashMap::new(),
    };
    futures::stream::unfold(c, |mut c| async move {
        if c.done {
            return None;
        }
        let page = events_page(&mut c).await;
        if page.is_err() {
            c.done = true;
        }
        Some((page, c))
    })
}

async fn events_page(c: &mut EventCursor) -> Result<Vec<u8>> {
    let rows = store::audit::list_page(
        &c.state.read,
        &c.tenant.id,
        &c.filter,
        c.after.as_ref().map(|(a, id)| (*a, id.as_str())),
        PAGE,
    )
    .await?;
    if (rows.len() as u64) < PAGE {
        c.done = true;
    }
    c.after = rows.last().map(|r| (r.at_ms, r.id.clone()));
    let names = usernames(
        &c.state,
        &c.tenant.id,
        rows.iter().filter_map(|r| r.user_id.clone()).collect(),
    )
    .await?;
    // Session row ids to public sids, remembered across pages (bounded: reset when large).
    if c.sids.len() > 100_000 {
        c.sids.clear();
    }
    let missing: Vec<String> = rows
        .iter()
        .filter_map(|r| r.session_id.clone())
        .filter(|s| !c.sids.contains_key(s))
        .collect();
    if !missing.is_empty() {
        for s in store::sessions::list_by_ids(&c.state.read, &c.tenant.id, &missing).await? {
            c.sids.insert(s.id, s.sid);
        }
    }
    let mut out: Vec<Map<String, Value>> = Vec::with_capacity(rows.len());
    for r in rows {
        let detail: Value = serde_json::from_str(&r.detail)
            .map_err(|e| internal(format!("audit event {}: stored detail: {e}", r.id)))?;
        let v = json!({
            "at": rfc3339_ms(r.at_ms), "kind": r.kind, "actor": r.actor, "outcome": r.outcome,
            "username": r.user_id.as_ref().and_then(|u| names.get(u)).cloned(),
            "sid": r.session_id.as_ref().and_then(|s| c.sids.get(s)).cloned(),
            "client_id": r.client_id, "ip": r.ip, "user_agent": r.user_agent,
            "detail": detail,
        });
        if let Value::Object(m) = v {
            out.push(m);
        }
    }
    let header = std::mem::replace(&mut c.first, false);
    render(c.format, EVENT_COLUMNS, &out, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quoting_is_csv() {
        let mut m = Map::new();
        m.insert("a".into(), json!("=HYPERLINK(\"x\")"));
        m.insert("b".into(), json!("plain, with \"quotes\""));
        m.insert("c".into(), json!(null));
        let out =
            String::from_utf8(render(Format::Csv, &["a", "b", "c"], &[m.clone()], true).unwrap())
                .unwrap();
        assert_eq!(
            out,
            "a,b,c\n\"'=HYPERLINK(\"\"x\"\")\",\"plain, with \"\"quotes\"\"\",\n"
        );
        let out =
            String::from_utf8(render(Format::JsonLines, &["a"], &[m], false).unwrap()).unwrap();
        assert!(out.ends_with('\n') && out.lines().count() == 1);
        assert!(out.contains("=HYPERLINK"), "JSON keeps the value as it is");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("jsonl"), Some(Format::JsonLines));
        assert_eq!(Format::parse("xml"), None);
    }
}
