//! The fold and the field parser, field by field.

use super::*;
use crate::session::admission::LimitAction;
use crate::session::binding::{DeviceMode, IpMode, Response, UaMode};

fn layer(kv: &[(&str, &str)]) -> PolicyLayer {
    PolicyLayer::from_settings(kv.iter().copied()).unwrap()
}

fn fold(layers: &[(LayerRef, PolicyLayer)]) -> EffectivePolicy {
    resolve_policy(layers.iter().map(|(r, l)| (r, l)))
}

#[test]
fn no_layers_gives_defaults() {
    let p = fold(&[]);
    assert_eq!(p, EffectivePolicy::default());
    assert_eq!(p.idle_timeout_secs.value, 3600);
    assert_eq!(p.absolute_timeout_secs.value, 43200);
    assert_eq!(p.max_sessions.value, None);
    assert!(p.refresh_reuse_ends_session.value);
    assert_eq!(p.idle_timeout_secs.source, Source::Default);
}

#[test]
fn tenant_layer_sets_values_even_looser_than_default() {
    let t = layer(&[
        ("idle_timeout_secs", "7200"),
        ("absolute_timeout_secs", "1d"),
        ("refresh_reuse_ends_session", "false"),
        ("limit_action", "evict_oldest"),
    ]);
    let p = fold(&[(LayerRef::tenant(), t)]);
    assert_eq!(p.idle_timeout_secs.value, 7200);
    assert_eq!(p.absolute_timeout_secs.value, 86400);
    assert!(!p.refresh_reuse_ends_session.value);
    assert_eq!(
        p.idle_timeout_secs.source,
        Source::Layer(LayerRef::tenant())
    );
}

#[test]
fn idle_timeout_only_tightens_after_the_tenant_and_names_its_layer() {
    let t = (LayerRef::tenant(), layer(&[("idle_timeout_secs", "600")]));
    let looser = (
        LayerRef::group("a"),
        layer(&[("idle_timeout_secs", "9000")]),
    );
    let tighter = (LayerRef::client("c"), layer(&[("idle_timeout_secs", "60")]));
    let p = fold(&[t.clone(), looser.clone()]);
    assert_eq!(p.idle_timeout_secs.value, 600);
    assert_eq!(
        p.idle_timeout_secs.source,
        Source::Layer(LayerRef::tenant())
    );
    let p = fold(&[t, looser, tighter]);
    assert_eq!(p.idle_timeout_secs.value, 60);
    assert_eq!(
        p.idle_timeout_secs.source,
        Source::Layer(LayerRef::client("c"))
    );
}

#[test]
fn absolute_timeout_only_tightens_after_the_tenant() {
    let t = (
        LayerRef::tenant(),
        layer(&[("absolute_timeout_secs", "1000")]),
    );
    let l = (
        LayerRef::group("g"),
        layer(&[("absolute_timeout_secs", "5000")]),
    );
    assert_eq!(fold(&[t.clone(), l]).absolute_timeout_secs.value, 1000);
    let l = (
        LayerRef::attribute("k", "v"),
        layer(&[("absolute_timeout_secs", "10")]),
    );
    let p = fold(&[t, l]);
    assert_eq!(p.absolute_timeout_secs.value, 10);
    assert_eq!(
        p.absolute_timeout_secs.source,
        Source::Layer(LayerRef::attribute("k", "v"))
    );
}

#[test]
fn a_group_without_the_tenant_can_tighten_the_default_only() {
    let g = (
        LayerRef::group("g"),
        layer(&[("idle_timeout_secs", "99999")]),
    );
    assert_eq!(fold(&[g]).idle_timeout_secs.value, 3600);
}

#[test]
fn max_sessions_takes_the_minimum_and_names_the_client_for_per_client_counting() {
    let t = (LayerRef::tenant(), layer(&[("max_sessions", "5")]));
    let g = (LayerRef::group("traders"), layer(&[("max_sessions", "3")]));
    let c = (LayerRef::client("trading"), layer(&[("max_sessions", "1")]));
    let p = fold(&[t.clone(), g.clone()]);
    assert_eq!(p.max_sessions.value, Some(3));
    assert_eq!(p.limit_client(), None);
    let p = fold(&[t.clone(), g.clone(), c]);
    assert_eq!(p.max_sessions.value, Some(1));
    assert_eq!(p.limit_client(), Some("trading"));
    // A looser group limit does not loosen the tenant's.
    let g = (LayerRef::group("g"), layer(&[("max_sessions", "9")]));
    assert_eq!(fold(&[t, g]).max_sessions.value, Some(5));
}

#[test]
fn limit_action_takes_the_strictest_after_the_tenant() {
    let t = |a: &str| (LayerRef::tenant(), layer(&[("limit_action", a)]));
    let g = |a: &str| (LayerRef::group("g"), layer(&[("limit_action", a)]));
    assert_eq!(fold(&[t("ask")]).limit_action.value, LimitAction::Ask);
    assert_eq!(
        fold(&[t("refuse"), g("evict_oldest")]).limit_action.value,
        LimitAction::Refuse
    );
    assert_eq!(
        fold(&[t("evict_oldest"), g("ask")]).limit_action.value,
        LimitAction::Ask
    );
    assert_eq!(
        fold(&[t("ask"), g("refuse")]).limit_action.value,
        LimitAction::Refuse
    );
    assert_eq!(
        fold(&[t("ask"), g("refuse")]).limit_action.source,
        Source::Layer(LayerRef::group("g"))
    );
}

#[test]
fn later_layers_can_only_turn_replay_ending_on() {
    let off = |r: LayerRef| (r, layer(&[("refresh_reuse_ends_session", "false")]));
    let on = |r: LayerRef| (r, layer(&[("refresh_reuse_ends_session", "true")]));
    assert!(
        fold(&[off(LayerRef::tenant()), on(LayerRef::group("g"))])
            .refresh_reuse_ends_session
            .value
    );
    assert!(
        fold(&[on(LayerRef::tenant()), off(LayerRef::group("g"))])
            .refresh_reuse_ends_session
            .value
    );
    assert!(
        !fold(&[off(LayerRef::tenant())])
            .refresh_reuse_ends_session
            .value
    );
}

#[test]
fn schedules_add_up_and_the_earliest_end_wins() {
    let a = (
        LayerRef::group("night"),
        layer(&[("schedule", "07:00 UTC")]),
    );
    let b = (LayerRef::group("day"), layer(&[("schedule", "19:00 UTC")]));
    let p = fold(&[a, b]);
    assert_eq!(p.schedules.len(), 2);
    // 2026-12-01T00:00:00Z = 1796083200.
    assert_eq!(
        p.next_scheduled_end(1_796_083_200),
        Some(1_796_083_200 + 7 * 3600)
    );
    assert_eq!(
        p.next_scheduled_end(1_796_083_200 + 8 * 3600),
        Some(1_796_083_200 + 19 * 3600)
    );
}

#[test]
fn binding_fields_take_the_strictest_mode_and_response() {
    let t = (
        LayerRef::tenant(),
        layer(&[
            ("bind_ip", "country"),
            ("on_ip_mismatch", "alert"),
            ("bind_user_agent", "family"),
        ]),
    );
    let g = (
        LayerRef::group("ops"),
        layer(&[
            ("bind_ip", "prefix"),
            ("on_ip_mismatch", "terminate"),
            ("bind_user_agent", "off"),
        ]),
    );
    let c = (
        LayerRef::client("bank"),
        layer(&[("bind_ip", "country"), ("bind_device", "required")]),
    );
    let p = fold(&[t.clone(), g.clone(), c]);
    assert_eq!(p.bind_ip.value, IpMode::Prefix);
    assert_eq!(p.bind_ip.source, Source::Layer(LayerRef::group("ops")));
    assert_eq!(p.on_ip_mismatch.value, Response::Terminate);
    assert_eq!(
        p.bind_user_agent.value,
        UaMode::Family,
        "off does not loosen"
    );
    assert_eq!(p.bind_device.value, DeviceMode::Required);
    assert_eq!(
        p.on_device_mismatch.value,
        Response::Reauth,
        "default response"
    );
    let b = p.binding();
    assert_eq!(
        (b.ip, b.on_ip, b.ip_v4_prefix),
        (IpMode::Prefix, Response::Terminate, 24)
    );
    // A longer prefix is stricter; the tenant may shorten it.
    let t = (LayerRef::tenant(), layer(&[("bind_ip_v4_prefix", "16")]));
    let g = (LayerRef::group("g"), layer(&[("bind_ip_v4_prefix", "28")]));
    assert_eq!(fold(std::slice::from_ref(&t)).bind_ip_v4_prefix.value, 16);
    assert_eq!(fold(&[t, g]).bind_ip_v4_prefix.value, 28);
}

#[test]
fn read_only_scopes_keep_only_what_every_layer_allows() {
    let t = (
        LayerRef::tenant(),
        layer(&[("read_only_scopes", "openid profile email")]),
    );
    let g = (
        LayerRef::group("g"),
        layer(&[("read_only_scopes", "openid email offline_access")]),
    );
    assert_eq!(
        fold(&[t.clone(), g]).read_only_scopes.value,
        vec!["email", "openid"]
    );
    assert_eq!(fold(&[]).read_only_scopes.value, vec!["openid"]);
    assert!(PolicyLayer::from_settings([("read_only_scopes", "a\"b")]).is_err());
}

#[test]
fn mfa_fields_fold_to_the_strictest() {
    let t = (
        LayerRef::tenant(),
        layer(&[("require_mfa", "false"), ("mfa_max_age_secs", "8h")]),
    );
    let c = (
        LayerRef::client("admin"),
        layer(&[("require_mfa", "true"), ("mfa_max_age_secs", "15m")]),
    );
    let p = fold(&[t.clone(), c]);
    assert!(p.require_mfa.value);
    assert_eq!(p.mfa_max_age_secs.value, Some(900));
    let g = (LayerRef::group("g"), layer(&[("require_mfa", "false")]));
    let p = fold(&[(LayerRef::tenant(), layer(&[("require_mfa", "true")])), g]);
    assert!(p.require_mfa.value, "a group cannot turn MFA off");
    assert!(fold(&[]).credential_change_ends_offline.value);
    assert!(
        !fold(&[(
            LayerRef::tenant(),
            layer(&[("credential_change_ends_offline", "false")])
        )])
        .credential_change_ends_offline
        .value
    );
}

#[test]
fn snapshots_from_before_a_field_existed_read_it_as_its_default() {
    let old = r#"{"idle_timeout_secs":{"value":60,"source":"tenant"},"absolute_timeout_secs":{"value":600,"source":"default"},"max_sessions":{"value":null,"source":"default"},"limit_action":{"value":"evict_oldest","source":"default"},"refresh_reuse_ends_session":{"value":true,"source":"default"},"schedules":[]}"#;
    let p = EffectivePolicy::from_snapshot(old).unwrap();
    assert_eq!(p.idle_timeout_secs.value, 60);
    assert_eq!(p.bind_ip.value, IpMode::Off);
    assert_eq!(p.bind_ip_v4_prefix.value, 24);
    assert!(EffectivePolicy::from_snapshot(
        r#"{"bind_ip":{"value":"sideways","source":"tenant"}}"#
    )
    .is_err());
}

#[test]
fn stored_fields_that_do_not_parse_name_the_field() {
    for (k, v) in [
        ("idle_timeout_secs", "soon"),
        ("idle_timeout_secs", "0"),
        ("idle_timeout_secs", "-5"),
        ("absolute_timeout_secs", "400d"),
        ("max_sessions", "0"),
        ("max_sessions", "many"),
        ("limit_action", "shrug"),
        ("refresh_reuse_ends_session", "yes"),
        ("schedule", "25:00 UTC"),
        ("schedule", "07:00 Mars/Olympus"),
        ("end_sessions_on_membership_change", "1"),
        ("idle_timeout", "60"),
        ("bind_ip", "subnet"),
        ("bind_ip_v4_prefix", "33"),
        ("bind_ip_v6_prefix", "4"),
        ("on_ip_mismatch", "panic"),
        ("bind_user_agent", "major"),
        ("bind_device", "maybe"),
        ("require_mfa", "sometimes"),
        ("mfa_max_age_secs", "forever"),
        ("travel_max_speed_kmh", "0"),
        ("travel_max_speed_kmh", "fast"),
        ("on_impossible_travel", "shrug"),
        ("duplicate_window_secs", "soon"),
        ("on_duplicate_session", "ignore"),
        ("min_device_trust", "101"),
        ("on_low_device_trust", "terminate"),
    ] {
        let e = PolicyLayer::from_settings([(k, v)]).unwrap_err();
        assert_eq!(e.field, k, "{k}={v}");
    }
}

#[test]
fn settings_round_trip_in_canonical_form() {
    let l = layer(&[
        ("idle_timeout_secs", "15m"),
        ("absolute_timeout_secs", "8h"),
        ("max_sessions", "2"),
        ("limit_action", "ask"),
        ("refresh_reuse_ends_session", "true"),
        ("schedule", "19:00,07:00 Europe/Berlin"),
        ("end_sessions_on_membership_change", "true"),
        ("bind_ip", "prefix"),
        ("bind_ip_v4_prefix", "20"),
        ("bind_ip_v6_prefix", "56"),
        ("on_ip_mismatch", "read_only"),
        ("bind_user_agent", "exact"),
        ("on_user_agent_mismatch", "alert"),
        ("bind_device", "required"),
        ("on_device_mismatch", "terminate"),
        ("read_only_scopes", "profile openid"),
        ("require_mfa", "true"),
        ("mfa_max_age_secs", "10m"),
        ("credential_change_ends_offline", "false"),
        ("travel_max_speed_kmh", "900"),
        ("on_impossible_travel", "terminate"),
        ("duplicate_window_secs", "2m"),
        ("on_duplicate_session", "alert"),
        ("min_device_trust", "40"),
        ("on_low_device_trust", "read_only"),
    ]);
    assert_eq!(
        l.to_settings().len(),
        FIELDS.len(),
        "every field round-trips"
    );
    assert_eq!(l.idle_timeout_secs, Some(900));
    assert_eq!(l.absolute_timeout_secs, Some(28800));
    let rows = l.to_settings();
    assert!(rows.contains(&("schedule", "07:00,19:00 Europe/Berlin".to_string())));
    let back = PolicyLayer::from_settings(rows.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
    assert_eq!(back, l);
    let mut l = l;
    for (k, _) in FIELDS {
        l.unset(k).unwrap();
    }
    assert!(l.is_empty());
    assert!(l.unset("nope").is_err());
}

#[test]
fn sources_read_as_text_and_back() {
    for s in [
        "default",
        "tenant",
        "group:night-shift",
        "attribute:clearance=secret",
        "client:web",
    ] {
        assert_eq!(s.parse::<Source>().unwrap().to_string(), s);
    }
    for bad in ["", "group", "tenant:x", "galaxy:far"] {
        assert!(bad.parse::<Source>().is_err(), "{bad}");
    }
}

#[test]
fn fields_name_the_layer_behind_each_value() {
    let t = (LayerRef::tenant(), layer(&[("max_sessions", "3")]));
    let g = (
        LayerRef::group("ops"),
        layer(&[("idle_timeout_secs", "60"), ("schedule", "07:00 UTC")]),
    );
    let f = fold(&[t, g]).fields();
    let get = |k: &str| f.iter().find(|x| x.field == k).unwrap().clone();
    assert_eq!(get("idle_timeout_secs").value, 60);
    assert_eq!(get("idle_timeout_secs").source, "group:ops");
    assert_eq!(get("max_sessions").source, "tenant");
    assert_eq!(get("absolute_timeout_secs").source, "default");
    assert_eq!(get("schedule").value, "07:00 UTC");
}

#[test]
fn snapshots_round_trip() {
    let t = (
        LayerRef::tenant(),
        layer(&[("max_sessions", "2"), ("schedule", "07:00 UTC")]),
    );
    let p = fold(&[t]);
    assert_eq!(EffectivePolicy::from_snapshot(&p.to_snapshot()).unwrap(), p);
    assert!(EffectivePolicy::from_snapshot("{\"idle_timeout_secs\": 5}").is_err());
}

#[test]
fn rules_select_users_by_group_or_attribute() {
    let who = Membership {
        groups: vec!["night-shift".into()],
        attributes: vec![("clearance".into(), "secret".into())],
    };
    assert!(who.selects(&LayerRef::tenant()));
    assert!(who.selects(&LayerRef::group("night-shift")));
    assert!(!who.selects(&LayerRef::group("day-shift")));
    assert!(who.selects(&LayerRef::attribute("clearance", "secret")));
    assert!(!who.selects(&LayerRef::attribute("clearance", "top")));
    assert!(!who.selects(&LayerRef::attribute("clearances", "ecret")));
    assert!(!who.selects(&LayerRef::client("c")));
}

#[test]
fn applicable_layers_are_tenant_rules_then_clients_in_order() {
    let all = vec![
        (LayerRef::client("b"), PolicyLayer::default()),
        (LayerRef::group("z"), PolicyLayer::default()),
        (LayerRef::client("a"), PolicyLayer::default()),
        (LayerRef::tenant(), PolicyLayer::default()),
        (LayerRef::group("y"), PolicyLayer::default()),
    ];
    let who = Membership {
        groups: vec!["z".into()],
        attributes: vec![],
    };
    let got: Vec<String> = applicable_layers(&all, &who, &["a"])
        .iter()
        .map(|(r, _)| r.to_string())
        .collect();
    assert_eq!(got, vec!["tenant", "group:z", "client:a"]);
}

#[test]
fn membership_changes_end_sessions_only_under_rules_that_say_so() {
    let all = vec![
        (
            LayerRef::attribute("clearance", "secret"),
            layer(&[("end_sessions_on_membership_change", "true")]),
        ),
        (
            LayerRef::group("staff"),
            layer(&[("idle_timeout_secs", "60")]),
        ),
    ];
    let before = Membership {
        groups: vec!["staff".into()],
        attributes: vec![("clearance".into(), "secret".into())],
    };
    let lost_clearance = Membership {
        groups: vec!["staff".into()],
        attributes: vec![],
    };
    let left_staff = Membership {
        groups: vec![],
        attributes: vec![("clearance".into(), "secret".into())],
    };
    assert_eq!(
        decide_membership_change(&all, &before, &lost_clearance),
        vec![&LayerRef::attribute("clearance", "secret")]
    );
    assert!(decide_membership_change(&all, &before, &left_staff).is_empty());
    assert_eq!(
        decide_membership_change(&all, &lost_clearance, &before).len(),
        1
    );
    assert!(decide_membership_change(&all, &before, &before).is_empty());
}

#[test]
fn travel_is_off_by_default_and_the_lowest_speed_and_strictest_response_win() {
    let p = fold(&[]);
    assert_eq!(p.travel_max_speed_kmh.value, None);
    assert_eq!(p.on_impossible_travel.value, Response::Reauth);
    let t = (
        LayerRef::tenant(),
        layer(&[
            ("travel_max_speed_kmh", "1000"),
            ("on_impossible_travel", "alert"),
        ]),
    );
    let p = fold(std::slice::from_ref(&t));
    assert_eq!(p.travel_max_speed_kmh.value, Some(1000));
    assert_eq!(p.on_impossible_travel.value, Response::Alert);
    // A group may lower the limit and harden the response, never the reverse.
    let strict = (
        LayerRef::group("finance"),
        layer(&[
            ("travel_max_speed_kmh", "500"),
            ("on_impossible_travel", "terminate"),
        ]),
    );
    let lax = (
        LayerRef::group("sales"),
        layer(&[
            ("travel_max_speed_kmh", "5000"),
            ("on_impossible_travel", "alert"),
        ]),
    );
    let p = fold(&[t.clone(), strict.clone(), lax.clone()]);
    assert_eq!(p.travel_max_speed_kmh.value, Some(500));
    assert_eq!(p.travel_max_speed_kmh.source.to_string(), "group:finance");
    assert_eq!(p.on_impossible_travel.value, Response::Terminate);
    let p = fold(&[t, lax]);
    assert_eq!(p.travel_max_speed_kmh.value, Some(1000));
    assert_eq!(p.on_impossible_travel.value, Response::Alert);
    // A group alone turns it on over a tenant that never did.
    let p = fold(&[strict]);
    assert_eq!(p.travel_max_speed_kmh.value, Some(500));
    let names: Vec<&str> = p.fields().iter().map(|f| f.field).collect();
    assert!(names.contains(&"travel_max_speed_kmh") && names.contains(&"on_impossible_travel"));
}

#[test]
fn device_trust_is_off_by_default_and_the_highest_minimum_and_read_only_win() {
    use crate::session::trust::LowTrustResponse;
    let p = fold(&[]);
    assert_eq!(p.min_device_trust.value, None);
    assert_eq!(p.on_low_device_trust.value, LowTrustResponse::StepUp);
    let t = (
        LayerRef::tenant(),
        layer(&[
            ("min_device_trust", "30"),
            ("on_low_device_trust", "read_only"),
        ]),
    );
    let g = (
        LayerRef::group("admins"),
        layer(&[
            ("min_device_trust", "70"),
            ("on_low_device_trust", "step_up"),
        ]),
    );
    let c = (
        LayerRef::client("web"),
        layer(&[("min_device_trust", "10")]),
    );
    let p = fold(&[t, g, c]);
    assert_eq!(p.min_device_trust.value, Some(70));
    assert_eq!(p.min_device_trust.source.to_string(), "group:admins");
    assert_eq!(
        p.on_low_device_trust.value,
        LowTrustResponse::ReadOnly,
        "a group cannot soften read-only to a step-up"
    );
    // The tenant may lower its own default back to 0 (every device passes).
    let p = fold(&[(LayerRef::tenant(), layer(&[("min_device_trust", "0")]))]);
    assert_eq!(p.min_device_trust.value, Some(0));
}

#[test]
fn duplicate_detection_is_off_by_default_and_the_longest_window_wins() {
    let p = fold(&[]);
    assert_eq!(p.duplicate_window_secs.value, None);
    assert_eq!(p.on_duplicate_session.value, Response::Reauth);
    let t = (
        LayerRef::tenant(),
        layer(&[
            ("duplicate_window_secs", "30s"),
            ("on_duplicate_session", "alert"),
        ]),
    );
    let g = (
        LayerRef::group("ops"),
        layer(&[
            ("duplicate_window_secs", "5m"),
            ("on_duplicate_session", "terminate"),
        ]),
    );
    let c = (
        LayerRef::client("web"),
        layer(&[("duplicate_window_secs", "10s")]),
    );
    let p = fold(&[t, g, c]);
    assert_eq!(p.duplicate_window_secs.value, Some(300));
    assert_eq!(p.duplicate_window_secs.source.to_string(), "group:ops");
    assert_eq!(p.on_duplicate_session.value, Response::Terminate);
}
