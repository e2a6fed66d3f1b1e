//! Login throttling counters (per account and per IP).

use super::entities::login_throttle;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Set};

pub use login_throttle::Model as ThrottleRow;

pub async fn find<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<ThrottleRow>, DbErr> {
    login_throttle::Entity::find_by_id(key.to_string())
        .one(db)
        .await
}

pub async fn save<C: ConnectionTrait>(db: &C, row: ThrottleRow) -> Result<(), DbErr> {
    match login_throttle::Entity::find_by_id(row.key.clone())
        .one(db)
        .await?
    {
        Some(existing) => {
            let mut am = existing.into_active_model();
            am.failures = Set(row.failures);
            am.window_start = Set(row.window_start);
            am.locked_until = Set(row.locked_until);
            am.update(db).await?;
        }
        None => {
            let am: login_throttle::ActiveModel = row.into();
            login_throttle::Entity::insert(am)
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(())
}

pub async fn delete<C: ConnectionTrait>(db: &C, key: &str) -> Result<(), DbErr> {
    login_throttle::Entity::delete_by_id(key.to_string())
        .exec(db)
        .await?;
    Ok(())
}
