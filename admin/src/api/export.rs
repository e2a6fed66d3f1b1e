//! A streamed download (CSV or JSON lines) as an API response: the body is written page by page
//! as the export produces it, so an export of any size holds one page in memory. In the OpenAPI
//! document it is a binary body in either media type with a `Content-Disposition` header.

use futures::StreamExt;
use lanyard_idp::session::service::export::Format;
use poem::http::header::CONTENT_DISPOSITION;
use poem::{Body, IntoResponse, Response};
use poem_openapi::payload::{Binary, Payload};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

/// A download in one of the export formats.
pub struct Export {
    body: Body,
    format: Format,
    filename: String,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Export({})", self.filename)
    }
}

impl Export {
    /// Stream `chunks` as the body of a file called `{stem}.{csv|jsonl}`. A failure after the
    /// first bytes were sent can no longer change the status: it is logged, and the response is
    /// cut short (the client sees an incomplete transfer, never a silently truncated success).
    pub fn new(
        chunks: impl futures::Stream<Item = lanyard_idp::error::Result<Vec<u8>>> + Send + 'static,
        format: Format,
        stem: &str,
    ) -> Self {
        let stream = chunks.map(|c| {
            c.map_err(|e| {
                tracing::error!(error = %e, "export failed while streaming");
                std::io::Error::other(e.to_string())
            })
        });
        let ext = match format {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        };
        Self {
            body: Body::from_bytes_stream(stream),
            format,
            filename: format!("{stem}.{ext}"),
        }
    }
}

impl IntoResponse for Export {
    fn into_response(self) -> Response {
        let mut r = Response::builder()
            .content_type(self.format.content_type())
            .body(self.body);
        // The stem is built from a tenant slug and a date: no quote or control character.
        if let Ok(v) = format!("attachment; filename=\"{}\"", self.filename).parse() {
            r.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
        r
    }
}

impl ApiResponse for Export {
    fn meta() -> MetaResponses {
        let binary = || <Binary<Body> as Payload>::schema_ref();
        MetaResponses {
            responses: vec![MetaResponse {
                description:
                    "The export, streamed (CSV with a header line, or one JSON object per line).",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: Format::Csv.content_type(),
                        schema: binary(),
                    },
                    MetaMediaType {
                        content_type: Format::JsonLines.content_type(),
                        schema: binary(),
                    },
                ],
                headers: vec![MetaHeader {
                    name: "Content-Disposition".into(),
                    description: Some("attachment; filename=\"...\"".into()),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                }],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}
