//! Lanyard admin surface: the JSON admin API under `/api/v1` (OpenAPI at `/api/v1/openapi.json`),
//! authenticated by admin tokens the CLI creates.

pub mod api;

use lanyard_idp::app::State;
use poem::Route;

/// Add the admin routes to the application's routes.
pub fn extend(state: State) -> impl FnOnce(Route) -> Route {
    move |r: Route| {
        let service = api::service(state);
        let spec = service.spec_endpoint();
        r.nest("/api/v1", service).at("/api/v1/openapi.json", spec)
    }
}
