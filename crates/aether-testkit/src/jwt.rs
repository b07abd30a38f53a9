//! Decentralized (operator mode) authentication for test servers: an operator, a system
//! account, an account with JetStream and a user of it, as NATS JWTs signed with fresh
//! NKeys, and the user's `.creds`.
//!
//! ```no_run
//! use aether_testkit::{jwt::Operator, Auth, NatsServer};
//!
//! let operator = Operator::generate();
//! let server = NatsServer::builder().auth(Auth::operator(&operator)).start();
//! let creds: String = operator.user_creds(); // what a `.creds` file holds
//! # drop((server, creds));
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// An operator, its system account, an account (JetStream enabled, no limits) and a user of
/// that account.
pub struct Operator {
    operator_jwt: String,
    account_public: String,
    account_jwt: String,
    system_public: String,
    system_jwt: String,
    user_jwt: String,
    user_seed: String,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("account", &self.account_public)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Fresh keys and JWTs.
    ///
    /// # Panics
    /// When key generation or signing fails (it does not with the `nkeys` crate).
    pub fn generate() -> Self {
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let system = KeyPair::new_account();
        let user = KeyPair::new_user();
        let operator_jwt = sign(
            &operator,
            &operator.public_key(),
            "aether-test-operator",
            json!({ "type": "operator", "version": 2 }),
        );
        let account_jwt = sign(
            &operator,
            &account.public_key(),
            "aether-test-account",
            json!({
                "type": "account",
                "version": 2,
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
                }
            }),
        );
        let system_jwt = sign(
            &operator,
            &system.public_key(),
            "SYS",
            json!({ "type": "account", "version": 2 }),
        );
        let user_jwt = sign(
            &account,
            &user.public_key(),
            "aether-test-user",
            json!({
                "type": "user",
                "version": 2,
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1
            }),
        );
        Operator {
            operator_jwt,
            account_public: account.public_key(),
            account_jwt,
            system_public: system.public_key(),
            system_jwt,
            user_jwt,
            user_seed: user.seed().expect("a generated user key has a seed"),
        }
    }

    /// The content of the user's `.creds` file: its JWT and NKey seed.
    pub fn user_creds(&self) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            self.user_jwt, self.user_seed
        )
    }

    /// The `.creds` content of a user of another operator (refused by this one's servers).
    pub fn stranger_creds() -> String {
        Operator::generate().user_creds()
    }

    /// The server configuration lines: the operator, its system account (JetStream needs
    /// one) and a memory resolver holding both accounts.
    pub(crate) fn server_config(&self) -> String {
        format!(
            "operator: {:?}\nsystem_account: {}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {}: {:?}\n  {}: {:?}\n}}\n",
            self.operator_jwt,
            self.system_public,
            self.account_public,
            self.account_jwt,
            self.system_public,
            self.system_jwt
        )
    }
}

/// A JWT for `subject`'s claims `nats`, signed by `issuer`.
fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = json!({ "typ": "JWT", "alg": "ed25519-nkey" });
    let claims = json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer
        .sign(signing_input.as_bytes())
        .expect("signing with a generated key");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
