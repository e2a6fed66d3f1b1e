//! The register of DPoP proofs already accepted (RFC 9449 §11.1), shared by every node through
//! the database: a proof's `jti` is accepted once while its `iat` is inside the window.

use super::entities::dpop_proof;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Record a proof as seen. `false` when it was already seen (a replay): the primary key decides,
/// so two nodes racing on one proof cannot both accept it.
pub async fn insert_seen<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    proof_hash: &str,
    expires_at: i64,
) -> Result<bool, DbErr> {
    let am: dpop_proof::ActiveModel = dpop_proof::Model {
        tenant_id: tenant_id.to_string(),
        proof_hash: proof_hash.to_string(),
        expires_at,
    }
    .into();
    let n = dpop_proof::Entity::insert(am)
        .on_conflict(
            OnConflict::columns([dpop_proof::Column::TenantId, dpop_proof::Column::ProofHash])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match n {
        Ok(n) => Ok(n == 1),
        Err(DbErr::RecordNotInserted) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Housekeeping: proofs whose `iat` can no longer be accepted need not be remembered.
pub async fn delete_expired<C: ConnectionTrait>(db: &C, now: i64) -> Result<u64, DbErr> {
    let r = dpop_proof::Entity::delete_many()
        .filter(dpop_proof::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}
