//! `lanyard policy ...`: the layered session policy. `show` (in force for a user in a client,
//! with the layer behind each value), `list` (every layer), `fields` (what a layer may set),
//! `set` / `unset` (only the keys given, on the tenant or one group, attribute or client rule).

use super::output::{print_json, print_list, Cell, Column, OutputArgs};
use super::{m, s, Ctx, ACTOR};
use clap::{Args, Subcommand};
use lanyard_idp::manage::governance;
use lanyard_idp::session::policy::FIELDS;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::LayerRef;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// The policy in force, one row per field with the layer that set it (`default`, `tenant`,
    /// `group:NAME`, `attribute:KEY=VALUE`, `client:CLIENT_ID`).
    Show {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// For this user (username): adds the rules of their groups and attributes.
        #[arg(long)]
        user: Option<String>,
        /// In this client (client_id): adds its client rule.
        #[arg(long)]
        client: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every layer of the tenant with what it sets.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The fields a layer may set, with what each means.
    Fields {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Set fields of one layer (the tenant unless a rule is named); other fields keep their
    /// values. Live sessions are re-resolved at once; those already past a new deadline end.
    #[command(after_help = "Examples:\n  \
        lanyard policy set --tenant acme idle_timeout_secs=30m max_sessions=3\n  \
        lanyard policy set --tenant acme --group night-shift schedule='07:00,19:00 Europe/Berlin'\n  \
        lanyard policy set --tenant acme --client payroll max_sessions=1 limit_action=refuse\n\
        `lanyard policy fields` lists the fields.")]
    Set {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        layer: LayerArgs,
        /// FIELD=VALUE, one or more.
        #[arg(required = true, value_name = "FIELD=VALUE")]
        settings: Vec<String>,
    },
    /// Clear fields of one layer (the tenant unless a rule is named); cleared fields fall back to
    /// the layers below. A rule left with no fields is removed.
    Unset {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        layer: LayerArgs,
        /// FIELD, one or more.
        #[arg(required = true, value_name = "FIELD")]
        fields: Vec<String>,
    },
}

/// Which layer `set` and `unset` change: at most one of these; none means the tenant.
#[derive(Args, Debug, Clone)]
#[group(multiple = false)]
pub struct LayerArgs {
    /// The rule for members of this group.
    #[arg(long)]
    group: Option<String>,
    /// The rule for users with this attribute (KEY=VALUE).
    #[arg(long, value_name = "KEY=VALUE")]
    attribute: Option<String>,
    /// The rule for sessions this client (client_id) takes part in.
    #[arg(long)]
    client: Option<String>,
}

impl LayerArgs {
    fn layer(&self) -> anyhow::Result<LayerRef> {
        Ok(match (&self.group, &self.attribute, &self.client) {
            (Some(g), _, _) => LayerRef::group(g),
            (_, Some(a), _) => {
                let (k, v) = governance::parse_key_value("--attribute", a).map_err(m)?;
                LayerRef::attribute(&k, &v)
            }
            (_, _, Some(c)) => LayerRef::client(c),
            _ => LayerRef::tenant(),
        })
    }
}

/// A field name the policy knows, or one line saying where the list is.
fn known_field(name: &str) -> anyhow::Result<()> {
    if FIELDS.iter().any(|(k, _)| *k == name) {
        Ok(())
    } else {
        anyhow::bail!("policy field {name}: unknown field (`lanyard policy fields` lists them)")
    }
}

fn parse_setting(arg: &str) -> anyhow::Result<FieldChange> {
    let Some((k, v)) = arg.split_once('=') else {
        anyhow::bail!("'{arg}' is not FIELD=VALUE (to clear a field: `lanyard policy unset`)");
    };
    known_field(k)?;
    Ok(FieldChange::Set(k.to_string(), v.to_string()))
}

const FIELD_COLUMNS: &[Column] = &[
    ("FIELD", "field", Cell::Text),
    ("VALUE", "value", Cell::Text),
    ("SOURCE", "source", Cell::Text),
];

const LAYER_COLUMNS: &[Column] = &[
    ("LAYER", "layer", Cell::Text),
    ("VERSION", "version", Cell::Text),
    ("SETTINGS", "settings", Cell::Text),
    ("UPDATED", "updated_at", Cell::Secs),
    ("BY", "updated_by", Cell::Text),
];

const HELP_COLUMNS: &[Column] = &[
    ("FIELD", "field", Cell::Text),
    ("MEANING", "help", Cell::Text),
];

pub async fn run(ctx: &Ctx, cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::Show {
            tenant,
            user,
            client,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let fields =
                governance::effective_policy(&ctx.state, &t, user.as_deref(), client.as_deref())
                    .await
                    .map_err(m)?;
            print_list(&fields, FIELD_COLUMNS, output.format())
        }
        PolicyCmd::List { tenant, output } => {
            let t = ctx.tenant(&tenant).await?;
            let layers = governance::list_policies(&ctx.state.db, &t)
                .await
                .map_err(m)?;
            match output.format() {
                super::output::Format::Json => print_json(&layers),
                table => {
                    // One line per layer: its settings as FIELD=VALUE, as `policy set` takes them.
                    let rows: Vec<serde_json::Value> = layers
                        .iter()
                        .map(|l| {
                            let settings: Vec<String> =
                                l.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            serde_json::json!({
                                "layer": l.layer, "version": l.version,
                                "settings": settings.join(" "),
                                "updated_at": l.updated_at, "updated_by": l.updated_by,
                            })
                        })
                        .collect();
                    print_list(&rows, LAYER_COLUMNS, table)
                }
            }
        }
        PolicyCmd::Fields { output } => {
            let rows: Vec<serde_json::Value> = FIELDS
                .iter()
                .map(|(k, help)| serde_json::json!({ "field": k, "help": help }))
                .collect();
            print_list(&rows, HELP_COLUMNS, output.format())
        }
        PolicyCmd::Set {
            tenant,
            layer,
            settings,
        } => {
            let layer = layer.layer()?;
            let changes = settings
                .iter()
                .map(|a| parse_setting(a))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &change_layer(&ctx.state, &t, &layer, &changes, ACTOR)
                    .await
                    .map_err(s)?,
            )
        }
        PolicyCmd::Unset {
            tenant,
            layer,
            fields,
        } => {
            let layer = layer.layer()?;
            let changes = fields
                .iter()
                .map(|f| known_field(f).map(|()| FieldChange::Unset(f.clone())))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &change_layer(&ctx.state, &t, &layer, &changes, ACTOR)
                    .await
                    .map_err(s)?,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn settings_are_field_equals_value_of_known_fields() {
        assert!(matches!(
            parse_setting("schedule=07:00 UTC").unwrap(),
            FieldChange::Set(k, v) if k == "schedule" && v == "07:00 UTC"
        ));
        let e = parse_setting("idle_timeout_secs").unwrap_err().to_string();
        assert!(e.contains("'idle_timeout_secs' is not FIELD=VALUE"), "{e}");
        let e = parse_setting("idle_timeout=60").unwrap_err().to_string();
        assert!(
            e.starts_with("policy field idle_timeout: unknown field"),
            "{e}"
        );
    }
}
