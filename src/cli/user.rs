//! `lanyard user ...`: create, list, show, update, set-attr, unset-attr, set-password, disable,
//! enable, lock, unlock, revoke-sessions, delete.

use super::output::{print_json, print_list, print_object, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::{ArgGroup, Subcommand};
use lanyard_idp::crypto::Secret;
use lanyard_idp::manage::{self, governance, users};
use std::io::BufRead;

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Re-evaluate every session of a user now (policy, groups, attributes, claims).
    Resync {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Create a user.
    Create {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Display name (the `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// A group (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The password (visible in the process list and shell history; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users of a tenant.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one user.
    Show {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change a user's e-mail, name or groups (what is not given stays).
    Update {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        /// New e-mail address ('' removes it).
        #[arg(long)]
        email: Option<String>,
        /// New display name ('' removes it).
        #[arg(long)]
        name: Option<String>,
        /// Replace the groups with these (repeat for several).
        #[arg(long = "group", conflicts_with = "no_groups")]
        groups: Vec<String>,
        /// Remove every group.
        #[arg(long)]
        no_groups: bool,
    },
    /// Set a user's e-mail address, where security notices go ('' removes it).
    SetEmail {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        address: String,
    },
    /// Set one attribute of a user (KEY=VALUE). Attribute rules (`policy set --attribute`) apply
    /// to the user's live sessions at once; a rule that ends sessions on membership change ends
    /// them.
    SetAttr {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(value_name = "KEY=VALUE")]
        attribute: String,
    },
    /// Remove one attribute of a user (applied to live sessions as `set-attr` is).
    UnsetAttr {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        key: String,
    },
    /// Set a user's password, read from standard input or generated (and printed once).
    #[command(group(ArgGroup::new("source").required(true).args(["password_stdin", "generate"])))]
    SetPassword {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        /// Read the new password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Generate a password and print it once.
        #[arg(long)]
        generate: bool,
    },
    /// Disable a user and end all their sessions everywhere.
    Disable {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Lock a user: every session ends (reason account_locked) and sign-in is refused, for a
    /// while (--for 30m, 12h, 7d) or until `user unlock`. The user and the tenant's admin
    /// address are mailed.
    Lock {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
        /// How long (90s, 30m, 12h, 7d; at most 366d). Without it: until unlocked.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
    },
    /// Unlock a locked user.
    Unlock {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Re-enable a disabled user.
    Enable {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// End every session of a user.
    RevokeSessions {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Give a user the admin role of their tenant: they can then sign in to the tenant's admin
    /// area at /t/TENANT/admin with their own password (and second factor when a policy on the
    /// client `lanyard:admin` requires one).
    GrantAdmin {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Take the admin role away (the admin area refuses the user from their next request on).
    RevokeAdmin {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// List the tenant's admins.
    Admins {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
    },
    /// Delete a user: every session is ended first (their RPs are told), then the user is gone.
    Delete {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        username: String,
    },
}

const COLUMNS: &[Column] = &[
    ("USERNAME", "username", Cell::Text),
    ("EMAIL", "email", Cell::Text),
    ("NAME", "name", Cell::Text),
    ("GROUPS", "groups", Cell::Text),
    ("STATUS", "status", Cell::Text),
    ("LOCK", "lock", Cell::Text),
    ("LOCKED UNTIL", "locked_until", Cell::Secs),
    ("CREATED", "created_at", Cell::Secs),
];

fn read_password_line() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}

fn optional(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| (!s.is_empty()).then_some(s))
}

pub async fn run(ctx: &Ctx, cmd: UserCmd) -> anyhow::Result<()> {
    let state = &ctx.state;
    match cmd {
        UserCmd::Create {
            tenant,
            username,
            email,
            name,
            groups,
            password,
            password_stdin,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let password = if password_stdin {
                read_password_line()?
            } else {
                Secret::new(password.unwrap_or_default())
            };
            let new = users::NewUser {
                username,
                email,
                name,
                groups,
                password,
            };
            print_json(
                &users::register_user(state, &t, new, false, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        UserCmd::List { tenant, output } => {
            let t = ctx.tenant(&tenant).await?;
            let list = users::list_users(&state.db, &t, ctx.now).await.map_err(m)?;
            print_list(&list, COLUMNS, output.format())
        }
        UserCmd::Show {
            tenant,
            username,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let u = users::show_user(&state.db, &t, &username, ctx.now)
                .await
                .map_err(m)?;
            print_object(&u, output.format())
        }
        UserCmd::Update {
            tenant,
            username,
            email,
            name,
            groups,
            no_groups,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let changes = users::UserChanges {
                email: optional(email),
                name: optional(name),
                groups: if no_groups {
                    Some(vec![])
                } else {
                    (!groups.is_empty()).then_some(groups)
                },
            };
            print_json(
                &users::update_user(state, &t, &username, changes, ACTOR)
                    .await
                    .map_err(m)?
                    .user,
            )
        }
        UserCmd::SetEmail {
            tenant,
            username,
            address,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let changes = users::UserChanges {
                email: Some(Some(address).filter(|a| !a.is_empty())),
                ..Default::default()
            };
            print_json(
                &users::update_user(state, &t, &username, changes, ACTOR)
                    .await
                    .map_err(m)?
                    .user,
            )
        }
        UserCmd::SetAttr {
            tenant,
            username,
            attribute,
        } => {
            let (key, value) = governance::parse_key_value("attribute", &attribute).map_err(m)?;
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &governance::set_attribute(state, &t, &username, &key, Some(&value), ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        UserCmd::UnsetAttr {
            tenant,
            username,
            key,
        } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &governance::set_attribute(state, &t, &username, &key, None, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        UserCmd::SetPassword {
            tenant,
            username,
            password_stdin: _,
            generate,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let password = if generate {
                users::generate_password()
            } else {
                read_password_line()?
            };
            let ended = users::set_password(state, &t, &username, &password, ACTOR)
                .await
                .map_err(m)?;
            if generate {
                // Printed this once only: it is stored hashed.
                print_json(&serde_json::json!({
                    "username": username, "password": password.expose(), "sessions_ended": ended,
                }))
            } else {
                print_json(&serde_json::json!({
                    "username": username, "password_set": true, "sessions_ended": ended,
                }))
            }
        }
        UserCmd::Disable { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let n = manage::disable_user(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "disabled": username, "sessions_ended": n }))
        }
        UserCmd::Lock {
            tenant,
            username,
            for_,
        } => {
            let for_secs = match for_ {
                Some(d) => Some(
                    lanyard_idp::session::lock::parse_duration(&d)
                        .map_err(|e| anyhow::anyhow!("--for {e}"))?,
                ),
                None => None,
            };
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &manage::revocation::lock_user(state, &t, &username, for_secs, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        UserCmd::Unlock { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let was = manage::revocation::unlock_user(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "unlocked": username, "was_locked": was }))
        }
        UserCmd::Enable { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = manage::enable_user(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "enabled": username, "changed": changed }))
        }
        UserCmd::Resync { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &manage::revocation::resync_user(state, &t, &username, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        UserCmd::RevokeSessions { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let n = manage::revoke_user_sessions(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))
        }
        UserCmd::GrantAdmin { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = manage::admins::grant_admin(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "admin": username, "changed": changed }))
        }
        UserCmd::RevokeAdmin { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = manage::admins::revoke_admin(state, &t, &username, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "admin_revoked": username, "changed": changed }))
        }
        UserCmd::Admins { tenant } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(&manage::admins::list_admins(state, &t).await.map_err(m)?)
        }
        UserCmd::Delete { tenant, username } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &users::delete_user(state, &t, &username, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
    }
}
