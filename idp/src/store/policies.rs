//! Policy layers (one row per layer, one row per setting), groups and their members, and user
//! attributes: the facts the policy fold and the cohort selectors read.

use super::entities::{group, group_member, policy_layer, policy_setting, user_attribute};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

pub use group::Model as GroupRow;
pub use policy_layer::Model as LayerRow;

/// A layer and its `(key, value)` settings.
#[derive(Debug, Clone)]
pub struct StoredLayer {
    pub layer: LayerRow,
    pub settings: Vec<(String, String)>,
}

/// Every layer of a tenant with its settings (two queries).
pub async fn list_layers<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Vec<StoredLayer>, DbErr> {
    let layers = policy_layer::Entity::find()
        .filter(policy_layer::Column::TenantId.eq(tenant_id))
        .order_by_asc(policy_layer::Column::Kind)
        .order_by_asc(policy_layer::Column::Subject)
        .all(db)
        .await?;
    let settings = policy_setting::Entity::find()
        .filter(policy_setting::Column::TenantId.eq(tenant_id))
        .order_by_asc(policy_setting::Column::Key)
        .all(db)
        .await?;
    Ok(layers
        .into_iter()
        .map(|l| StoredLayer {
            settings: settings
                .iter()
                .filter(|s| s.layer_id == l.id)
                .map(|s| (s.key.clone(), s.value.clone()))
                .collect(),
            layer: l,
        })
        .collect())
}

pub async fn find_layer<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kind: &str,
    subject: &str,
) -> Result<Option<LayerRow>, DbErr> {
    policy_layer::Entity::find()
        .filter(policy_layer::Column::TenantId.eq(tenant_id))
        .filter(policy_layer::Column::Kind.eq(kind))
        .filter(policy_layer::Column::Subject.eq(subject))
        .one(db)
        .await
}

/// Replace a layer's settings (creating the layer if needed) and bump its version. Returns the
/// new version. Empty settings keep an empty layer (the tenant's) or delete it (any other).
#[allow(clippy::too_many_arguments)]
pub async fn replace_layer<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kind: &str,
    subject: &str,
    settings: &[(&str, String)],
    now: i64,
    actor: &str,
) -> Result<i64, DbErr> {
    let existing = find_layer(db, tenant_id, kind, subject).await?;
    let (id, version) = match &existing {
        Some(l) => (l.id.clone(), l.version + 1),
        None => (crate::crypto::random_id(), 1),
    };
    match existing {
        Some(_) => {
            policy_layer::Entity::update_many()
                .col_expr(policy_layer::Column::Version, Expr::value(version))
                .col_expr(policy_layer::Column::UpdatedAt, Expr::value(now))
                .col_expr(policy_layer::Column::UpdatedBy, Expr::value(actor))
                .filter(policy_layer::Column::TenantId.eq(tenant_id))
                .filter(policy_layer::Column::Id.eq(&id))
                .exec(db)
                .await?;
        }
        None => {
            policy_layer::Entity::insert(policy_layer::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(tenant_id.into()),
                kind: Set(kind.into()),
                subject: Set(subject.into()),
                version: Set(version),
                updated_at: Set(now),
                updated_by: Set(actor.into()),
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    policy_setting::Entity::delete_many()
        .filter(policy_setting::Column::TenantId.eq(tenant_id))
        .filter(policy_setting::Column::LayerId.eq(&id))
        .exec(db)
        .await?;
    if settings.is_empty() && kind != "tenant" {
        policy_layer::Entity::delete_many()
            .filter(policy_layer::Column::TenantId.eq(tenant_id))
            .filter(policy_layer::Column::Id.eq(&id))
            .exec(db)
            .await?;
        return Ok(version);
    }
    if !settings.is_empty() {
        let rows = settings.iter().map(|(k, v)| policy_setting::ActiveModel {
            id: Set(crate::crypto::random_id()),
            tenant_id: Set(tenant_id.into()),
            layer_id: Set(id.clone()),
            key: Set((*k).into()),
            value: Set(v.clone()),
        });
        policy_setting::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(version)
}

/// Delete every layer (and its settings) for a subject, e.g. when a group or client goes away.
pub async fn delete_layers_for<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kind: &str,
    subject: &str,
) -> Result<(), DbErr> {
    if let Some(l) = find_layer(db, tenant_id, kind, subject).await? {
        policy_setting::Entity::delete_many()
            .filter(policy_setting::Column::TenantId.eq(tenant_id))
            .filter(policy_setting::Column::LayerId.eq(&l.id))
            .exec(db)
            .await?;
        policy_layer::Entity::delete_many()
            .filter(policy_layer::Column::TenantId.eq(tenant_id))
            .filter(policy_layer::Column::Id.eq(&l.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

// --- groups -------------------------------------------------------------------------------

pub async fn insert_group<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> Result<(), DbErr> {
    group::Entity::insert(group::ActiveModel {
        id: Set(crate::crypto::random_id()),
        tenant_id: Set(tenant_id.into()),
        name: Set(name.into()),
        description: Set(description.map(str::to_string)),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn find_group<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    name: &str,
) -> Result<Option<GroupRow>, DbErr> {
    group::Entity::find()
        .filter(group::Column::TenantId.eq(tenant_id))
        .filter(group::Column::Name.eq(name))
        .one(db)
        .await
}

pub async fn list_groups<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Vec<GroupRow>, DbErr> {
    group::Entity::find()
        .filter(group::Column::TenantId.eq(tenant_id))
        .order_by_asc(group::Column::Name)
        .all(db)
        .await
}

/// Delete a group and its memberships.
pub async fn delete_group<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    name: &str,
) -> Result<bool, DbErr> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .filter(group_member::Column::GroupName.eq(name))
        .exec(db)
        .await?;
    let r = group::Entity::delete_many()
        .filter(group::Column::TenantId.eq(tenant_id))
        .filter(group::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// `(group, member count)` of a tenant.
pub async fn count_members<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupName)
        .column_as(group_member::Column::Id.count(), "n")
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .group_by(group_member::Column::GroupName)
        .into_tuple()
        .all(db)
        .await
}

/// A user's groups, sorted.
pub async fn list_user_groups<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<String>, DbErr> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupName)
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .order_by_asc(group_member::Column::GroupName)
        .into_tuple()
        .all(db)
        .await
}

/// Replace a user's memberships; groups that do not exist yet are created.
pub async fn set_user_groups<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    groups: &[String],
    now: i64,
) -> Result<(), DbErr> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let mut groups: Vec<&String> = groups.iter().filter(|g| !g.is_empty()).collect();
    groups.sort();
    groups.dedup();
    for g in &groups {
        if find_group(db, tenant_id, g).await?.is_none() {
            insert_group(db, tenant_id, g, None, now).await?;
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    group_member::Entity::insert_many(groups.into_iter().map(|g| group_member::ActiveModel {
        id: Set(crate::crypto::random_id()),
        tenant_id: Set(tenant_id.into()),
        group_name: Set(g.clone()),
        user_id: Set(user_id.into()),
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Users in a group.
pub async fn list_group_member_ids<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    group_name: &str,
) -> Result<Vec<String>, DbErr> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::UserId)
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .filter(group_member::Column::GroupName.eq(group_name))
        .into_tuple()
        .all(db)
        .await
}

// --- attributes -----------------------------------------------------------------------------

/// A user's attributes, sorted by key.
pub async fn list_user_attributes<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    user_attribute::Entity::find()
        .select_only()
        .column(user_attribute::Column::Key)
        .column(user_attribute::Column::Value)
        .filter(user_attribute::Column::TenantId.eq(tenant_id))
        .filter(user_attribute::Column::UserId.eq(user_id))
        .order_by_asc(user_attribute::Column::Key)
        .into_tuple()
        .all(db)
        .await
}

/// Set (`Some`) or remove (`None`) one attribute.
pub async fn set_user_attribute<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    key: &str,
    value: Option<&str>,
) -> Result<(), DbErr> {
    user_attribute::Entity::delete_many()
        .filter(user_attribute::Column::TenantId.eq(tenant_id))
        .filter(user_attribute::Column::UserId.eq(user_id))
        .filter(user_attribute::Column::Key.eq(key))
        .exec(db)
        .await?;
    if let Some(v) = value {
        user_attribute::Entity::insert(user_attribute::ActiveModel {
            id: Set(crate::crypto::random_id()),
            tenant_id: Set(tenant_id.into()),
            user_id: Set(user_id.into()),
            key: Set(key.into()),
            value: Set(v.into()),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Users with `key = value`.
pub async fn list_users_with_attribute<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    key: &str,
    value: &str,
) -> Result<Vec<String>, DbErr> {
    user_attribute::Entity::find()
        .select_only()
        .column(user_attribute::Column::UserId)
        .filter(user_attribute::Column::TenantId.eq(tenant_id))
        .filter(user_attribute::Column::Key.eq(key))
        .filter(user_attribute::Column::Value.eq(value))
        .into_tuple()
        .all(db)
        .await
}

/// Remove everything a deleted user had here.
pub async fn delete_user_facts<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::TenantId.eq(tenant_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    user_attribute::Entity::delete_many()
        .filter(user_attribute::Column::TenantId.eq(tenant_id))
        .filter(user_attribute::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    // The user's preferences and admin role go with them.
    use super::entities::{tenant_admin, user_preference};
    user_preference::Entity::delete_many()
        .filter(user_preference::Column::TenantId.eq(tenant_id))
        .filter(user_preference::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    tenant_admin::Entity::delete_many()
        .filter(tenant_admin::Column::TenantId.eq(tenant_id))
        .filter(tenant_admin::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
