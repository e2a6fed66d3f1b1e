//! How commands print: create and change commands print one JSON object; list and show commands
//! print a table for a person at a terminal and JSON for a program (`--output` overrides);
//! exports stream CSV or JSON lines chunk by chunk.

use serde::Serialize;
use serde_json::Value;
use std::io::IsTerminal;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for programs (one document on one line).
    Json,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output format [default: table when stdout is a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub output: Option<Format>,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        self.output.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Json
            }
        })
    }
}

/// What an export writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, with a header line (formula-like cells are neutralised).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ExportFormat {
    pub fn service(self) -> lanyard_idp::session::service::export::Format {
        use lanyard_idp::session::service::export::Format;
        match self {
            ExportFormat::Csv => Format::Csv,
            ExportFormat::Jsonl => Format::JsonLines,
        }
    }
}

/// Write an export to stdout as it is produced, one page at a time, so its size never matters.
/// A reader that stops early (`| head`) ends the export quietly.
pub async fn stream_to_stdout(
    chunks: impl futures::Stream<Item = lanyard_idp::error::Result<Vec<u8>>>,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    use std::io::Write;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(super::s)?;
        let mut out = std::io::stdout().lock();
        match out.write_all(&chunk).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

pub fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// How one column renders its JSON field.
#[derive(Debug, Clone, Copy)]
pub enum Cell {
    Text,
    /// Unix seconds, shown as UTC.
    Secs,
    /// Unix milliseconds, shown as UTC.
    Millis,
}

/// A column: its header, the field of the row's JSON form, and how to show it.
pub type Column = (&'static str, &'static str, Cell);

/// Print a list as a table (only the given columns) or as a JSON array (every field).
pub fn print_list<T: Serialize>(
    rows: &[T],
    columns: &[Column],
    format: Format,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&rows);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let body: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            columns
                .iter()
                .map(|(_, field, cell)| render(v.get(*field).unwrap_or(&Value::Null), *cell))
                .collect()
        })
        .collect();
    let header: Vec<String> = columns.iter().map(|(h, _, _)| h.to_string()).collect();
    print!("{}", table(&header, &body));
    if rows.is_empty() {
        println!("(none)");
    }
    Ok(())
}

/// Print one object: `field  value` lines, or JSON.
pub fn print_object<T: Serialize>(obj: &T, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(obj);
    }
    let mut rows = Vec::new();
    flatten("", &serde_json::to_value(obj)?, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
    Ok(())
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            let shown = if prefix.ends_with("_at") || prefix.ends_with("_until") {
                render(other, Cell::Secs)
            } else {
                render(other, Cell::Text)
            };
            out.push((prefix.to_string(), shown));
        }
    }
}

fn render(v: &Value, cell: Cell) -> String {
    match (v, cell) {
        (Value::Null, _) => "-".into(),
        (Value::Number(n), Cell::Secs) => n.as_i64().map_or_else(|| n.to_string(), utc),
        (Value::Number(n), Cell::Millis) => n
            .as_i64()
            .map_or_else(|| n.to_string(), |ms| utc(ms.div_euclid(1000))),
        (Value::String(s), _) => s.clone(),
        (Value::Array(a), _) if a.is_empty() => "-".into(),
        (Value::Array(a), _) => a
            .iter()
            .map(|x| render(x, Cell::Text))
            .collect::<Vec<_>>()
            .join(","),
        (other, _) => other.to_string(),
    }
}

fn utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[String], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = *w));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in body {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tables_align_columns_and_render_times() {
        let t = table(
            &["NAME".into(), "WHEN".into()],
            &[vec!["a".into(), render(&Value::from(0), Cell::Secs)]],
        );
        assert_eq!(t, "NAME  WHEN\na     1970-01-01 00:00:00Z\n");
        assert_eq!(render(&Value::Null, Cell::Text), "-");
        assert_eq!(render(&serde_json::json!(["x", "y"]), Cell::Text), "x,y");
        assert_eq!(
            render(&Value::from(1500), Cell::Millis),
            "1970-01-01 00:00:01Z"
        );
    }

    #[test]
    fn objects_flatten_to_dotted_fields() {
        let mut rows = Vec::new();
        flatten(
            "",
            &serde_json::json!({"a": {"b": 1}, "created_at": 0}),
            &mut rows,
        );
        assert_eq!(
            rows,
            [
                ("a.b".to_string(), "1".to_string()),
                ("created_at".into(), "1970-01-01 00:00:00Z".into())
            ]
        );
    }
}
