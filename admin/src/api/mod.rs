//! The admin JSON API under `/api/v1`: tenants, users, clients, admin tokens, session policy and
//! groups, sessions (cohorts and exports), devices, deliveries. Handlers translate: authenticate, call one `lanyard_idp::manage` operation, map
//! its outcome (errors through `error::ApiError`, the one mapping).

pub mod auth;
pub mod clients;
pub mod docs;
pub mod error;
pub mod export;
pub mod policies;
pub mod sessions;
pub mod tenants;
pub mod users;
pub mod views;

use lanyard_idp::app::State;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApiService, Tags};

pub use error::{ApiError, ErrorBody};

pub type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Tags)]
pub enum Tag {
    /// A tenant, its session policy and its admin tokens.
    Tenants,
    /// Users of a tenant.
    Users,
    /// Relying parties of a tenant.
    Clients,
    /// Sessions (one, a cohort, exports), audit exports, devices and back-channel logout
    /// deliveries.
    Sessions,
    /// Session policy layers and the groups rules select by.
    Policies,
}

pub type Apis = (
    tenants::TenantsApi,
    users::UsersApi,
    clients::ClientsApi,
    sessions::SessionsApi,
    policies::PoliciesApi,
);

pub fn service(state: State) -> OpenApiService<Apis, ()> {
    let server = format!("{}/api/v1", state.config.public_url);
    OpenApiService::new(
        (
            tenants::TenantsApi {
                state: state.clone(),
            },
            users::UsersApi {
                state: state.clone(),
            },
            clients::ClientsApi {
                state: state.clone(),
            },
            sessions::SessionsApi {
                state: state.clone(),
            },
            policies::PoliciesApi { state },
        ),
        "Lanyard admin API",
        env!("CARGO_PKG_VERSION"),
    )
    .server(server)
}
