//! Download tokens: PASETO `v4.public` signed by the server's Ed25519 keys, with rotation and expiry.
//!
//! [`paseto`] is the token format alone; [`KeyRing`] holds the keys on disk,
//! issues tokens for a shipment and verifies them (key id in the footer,
//! expiry against a clock the caller passes in).

mod keyring;
pub mod paseto;

pub use keyring::{
    DOWNLOAD_IMPLICIT_ASSERTION, DownloadClaims, KeyError, KeyRing, PublicKey, TokenError,
    load_or_create_license_key,
};
