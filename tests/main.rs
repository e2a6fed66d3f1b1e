//! Black-box tests of the composed server over real HTTP. One test binary (STYLE.md rule 10):
//! every file here is a module of it. Storage runs on SQLite, and on PostgreSQL as well when
//! `LANYARD_TEST_POSTGRES_URL` is set (each test gets a fresh database).

// Tests may unwrap (STYLE.md rule 12): a failed expectation is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod mmdb;
mod smtp;

mod admin_actions;
mod admin_api;
mod admin_apps;
mod admin_area;
mod admin_manage;
mod admin_pages;
mod admin_people;
mod admin_policies;
mod browser;
mod cli;
mod dpop;
mod errors;
mod fault;
mod governance;
mod governance2;
mod hardening;
mod hardening2;
mod hardening3;
mod hardening4;
mod lockout;
mod logout;
mod mail;
mod observability;
mod offline;
mod oidc_flow;
mod portal;
mod refresh;
mod risk;
mod tenancy;
