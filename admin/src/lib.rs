//! Lanyard admin surface: the JSON admin API under `/api/v1` (OpenAPI document at
//! `/api/v1/openapi.json`, Swagger UI at `/api/v1/docs`), authenticated by admin tokens; and the
//! self-service account portal under `/t/{tenant}/account`, signed in with the user's own session;
//! and the tenant admin area under `/t/{tenant}/admin`, signed in the same way by users holding
//! the tenant's admin role.

pub mod api;
pub mod area;
pub mod kit;
pub mod portal;

use lanyard_idp::app::State;
use poem::{IntoEndpoint, Route};

/// Add the admin routes to the application's routes.
pub fn extend(state: State) -> impl FnOnce(Route) -> Route {
    move |r: Route| {
        let service = api::service(state);
        let spec = service.spec_endpoint();
        let docs = api::docs::endpoint(service.swagger_ui_html());
        area::routes(portal::routes(r))
            .nest("/api/v1", api::error::json_errors(service.into_endpoint()))
            .at("/api/v1/openapi.json", spec)
            .at("/api/v1/docs", docs)
    }
}
