//! The server's Ed25519 signing keys on disk, and the download tokens they issue and verify.
//!
//! Layout of the key directory (the caller passes `<data dir>/keys`):
//!
//! - `<kid>.ed25519`: one file per key, the 32-byte secret seed as 64
//!   lowercase hex digits and a newline, mode 0600. Files readable by group
//!   or others are refused.
//! - `active`: the kid of the key that signs new tokens, and a newline.
//!
//! A key id is derived from the public key, so it can be recomputed by
//! anyone who has the key: `kid = "k4." + base64url_nopad(blake3(public key
//! bytes)[..16])`. Every file is written to a temporary file in the same
//! directory, fsynced, renamed into place and the directory fsynced, so a
//! crash never leaves a half-written key.
//!
//! Tokens are PASETO `v4.public` (see [`super::paseto`]) with the message
//! `{"sub", "jti", "iat", "exp"}` (RFC 3339 times), the footer
//! `{"kid": "..."}` and the implicit assertion [`DOWNLOAD_IMPLICIT_ASSERTION`].
//! Old keys stay in the directory after a rotation, so links already sent
//! keep verifying.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::paseto;

/// Signed into every download token but not sent: a token made for another
/// purpose (or another program using the same key) never verifies as a
/// download token. Offline verifiers must pass the same bytes.
pub const DOWNLOAD_IMPLICIT_ASSERTION: &[u8] = b"waybill-download-v1";

/// How far in the future a token's `iat` may be (clock skew between the
/// machines that issue and verify), in seconds.
pub const IAT_FUTURE_SECS_MAX: i64 = 300;

const KEY_FILE_SUFFIX: &str = ".ed25519";
const ACTIVE_FILE: &str = "active";
/// Key and `active` files are tiny; never read more than this from them.
const SMALL_FILE_BYTES_MAX: u64 = 256;

/// What a download token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadClaims {
    /// The shipment the token opens (PASETO `sub`).
    pub shipment_id: String,
    /// This token's own id, for revocation (PASETO `jti`).
    pub token_id: String,
    /// PASETO `iat`.
    pub issued_at: OffsetDateTime,
    /// PASETO `exp`: the token is refused from this instant on.
    pub expires_at: OffsetDateTime,
}

/// A public key as published for offline verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// The 32 Ed25519 public key bytes, base64url without padding.
    pub public_key: String,
}

/// Why a download token was refused. The messages are safe to show.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Malformed, tampered with, or not signed by the key it names.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Names a key this server does not have.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// Genuine, but past its `exp`.
    #[error("token expired at {expired_at}")]
    Expired { expired_at: OffsetDateTime },
}

/// Why the key directory could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read or write {}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("malformed key file {}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "key file {} is accessible by group or others (mode {mode:03o}); it must be mode 600",
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{} is missing and there is more than one key: write the active kid into it", path.display())]
    NoActiveKey { path: PathBuf },
    #[error("{} names key {kid}, but there is no file {kid}{KEY_FILE_SUFFIX}", path.display())]
    ActiveKeyMissing { path: PathBuf, kid: String },
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}

struct RingKey {
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
}

/// The signing keys, loaded once; share it in an `Arc`.
pub struct KeyRing {
    /// Never empty; the active key first, then the others ordered by kid.
    keys: Vec<RingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret keys.
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active_kid())
            .field(
                "kids",
                &self.keys.iter().map(|key| &key.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Serialize)]
struct ClaimsOut<'a> {
    sub: &'a str,
    jti: &'a str,
    iat: String,
    exp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsIn {
    sub: String,
    jti: String,
    iat: String,
    exp: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Footer {
    kid: String,
}

impl KeyRing {
    /// Loads every key in `dir`, first creating the directory (mode 0700)
    /// and a first active key if there are none.
    pub fn load_or_create(dir: &Path) -> Result<KeyRing, KeyError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
        let mut keys = read_keys(dir)?;
        if keys.is_empty() {
            let key = create_key(dir)?;
            write_file(dir, ACTIVE_FILE, format!("{}\n", key.kid).as_bytes())?;
            keys.push(key);
        }
        let active = read_active(dir, &keys)?;
        keys.sort_by(|a, b| {
            (a.kid != active)
                .cmp(&(b.kid != active))
                .then_with(|| a.kid.cmp(&b.kid))
        });
        Ok(KeyRing { keys })
    }

    /// Creates a new key in `dir` and makes it the active one; returns its
    /// kid. Old keys stay, so tokens they signed still verify. A running
    /// server picks the new key up when it loads the ring again. The
    /// directory is loaded (and created if need be) first, so a broken
    /// directory is reported rather than added to.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        Self::load_or_create(dir)?;
        let key = create_key(dir)?;
        write_file(dir, ACTIVE_FILE, format!("{}\n", key.kid).as_bytes())?;
        Ok(key.kid)
    }

    /// The kid of the key that signs new tokens.
    pub fn active_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Signs a download token with the active key.
    ///
    /// # Panics
    ///
    /// If a timestamp cannot be written in RFC 3339 (outside years 0000–9999).
    pub fn issue(&self, claims: &DownloadClaims) -> String {
        let key = &self.keys[0];
        let message = ClaimsOut {
            sub: &claims.shipment_id,
            jti: &claims.token_id,
            iat: rfc3339(claims.issued_at),
            exp: rfc3339(claims.expires_at),
        };
        let message = serde_json::to_vec(&message).expect("claims serialize to JSON");
        let footer = Footer {
            kid: key.kid.clone(),
        };
        let footer = serde_json::to_vec(&footer).expect("footer serializes to JSON");
        paseto::sign(&key.signing, &message, &footer, DOWNLOAD_IMPLICIT_ASSERTION)
    }

    /// Verifies a download token at the instant `now`.
    ///
    /// The unverified footer is only used to pick one of our keys by kid;
    /// the signature (which covers the footer) is then checked with that
    /// key, always as Ed25519 `v4.public`, whatever the token says.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<DownloadClaims, TokenError> {
        let footer = paseto::footer_of(token).map_err(|_| invalid("malformed token"))?;
        let footer: Footer = json_object(&footer).ok_or_else(|| invalid("no key id"))?;
        let key = self
            .keys
            .iter()
            .find(|key| key.kid == footer.kid)
            .ok_or(TokenError::UnknownKey)?;
        let verified = paseto::verify(&key.verifying, token, DOWNLOAD_IMPLICIT_ASSERTION)
            .map_err(|_| invalid("signature does not verify"))?;

        let claims: ClaimsIn =
            json_object(&verified.message).ok_or_else(|| invalid("malformed claims"))?;
        let parse = |text: &str| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid("malformed claims"))
        };
        let issued_at = parse(&claims.iat)?;
        let expires_at = parse(&claims.exp)?;
        if now >= expires_at {
            return Err(TokenError::Expired {
                expired_at: expires_at,
            });
        }
        if issued_at - now > Duration::seconds(IAT_FUTURE_SECS_MAX) {
            return Err(invalid("issued in the future"));
        }
        Ok(DownloadClaims {
            shipment_id: claims.sub,
            token_id: claims.jti,
            issued_at,
            expires_at,
        })
    }

    /// Every public key, active first, for publishing.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .map(|key| PublicKey {
                kid: key.kid.clone(),
                public_key: URL_SAFE_NO_PAD.encode(key.verifying.as_bytes()),
            })
            .collect()
    }
}

fn invalid(reason: &str) -> TokenError {
    TokenError::Invalid(reason.to_owned())
}

/// Parses a JSON object into `T`. Serde also fills a struct from a JSON
/// array (by position); an object with exactly `T`'s fields is all we accept.
fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("timestamp within years 0000-9999")
}

/// `"k4." + base64url_nopad(blake3(public key)[..16])`.
fn kid_of(key: &VerifyingKey) -> String {
    let hash = blake3::hash(key.as_bytes());
    format!("k4.{}", URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16]))
}

fn ring_key(signing: SigningKey) -> RingKey {
    let verifying = signing.verifying_key();
    RingKey {
        kid: kid_of(&verifying),
        signing,
        verifying,
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_keys(dir: &Path) -> Result<Vec<RingKey>, KeyError> {
    let mut keys = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        // Temporary files start with a dot; they are leftovers of a crash.
        let Some(name) = name.to_str().filter(|name| !name.starts_with('.')) else {
            continue;
        };
        if let Some(kid) = name.strip_suffix(KEY_FILE_SUFFIX) {
            keys.push(read_key(&entry.path(), kid)?);
        }
    }
    Ok(keys)
}

fn read_small_file(file: File, path: &Path) -> Result<Vec<u8>, KeyError> {
    let mut contents = Vec::new();
    file.take(SMALL_FILE_BYTES_MAX)
        .read_to_end(&mut contents)
        .map_err(io_error(path))?;
    Ok(contents)
}

fn read_key(path: &Path, kid: &str) -> Result<RingKey, KeyError> {
    let malformed = |reason: &str| KeyError::Malformed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let file = File::open(path).map_err(io_error(path))?;
    // Checked on the open file, so the file read is the file checked.
    let metadata = file.metadata().map_err(io_error(path))?;
    if !metadata.is_file() {
        return Err(malformed("not a regular file"));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let contents = read_small_file(file, path)?;
    let seed = parse_seed(&contents)
        .ok_or_else(|| malformed("expected 64 lowercase hex digits and a newline"))?;
    let key = ring_key(SigningKey::from_bytes(&seed));
    if key.kid != kid {
        return Err(malformed(&format!(
            "the file name does not match the key, whose file name is {}{KEY_FILE_SUFFIX}",
            key.kid
        )));
    }
    Ok(key)
}

/// The shop's license-signing key, which plugins reach only through the
/// host's `sign` (never the token keys: a leaked license must not forge
/// download links). Kept as `license.key` in its own directory, in the
/// same format and with the same permission checks as token keys; created
/// on first use.
pub fn load_or_create_license_key(dir: &Path) -> Result<SigningKey, KeyError> {
    const FILE: &str = "license.key";
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))?;
    let path = dir.join(FILE);
    if !path.exists() {
        write_file(dir, FILE, format!("{}\n", hex(&random::<32>()?)).as_bytes())?;
    }
    let file = File::open(&path).map_err(io_error(&path))?;
    let metadata = file.metadata().map_err(io_error(&path))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions { path, mode });
    }
    let contents = read_small_file(file, &path)?;
    let seed = parse_seed(&contents).ok_or_else(|| KeyError::Malformed {
        path: path.clone(),
        reason: "expected 64 lowercase hex digits and a newline".to_owned(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

fn read_active(dir: &Path, keys: &[RingKey]) -> Result<String, KeyError> {
    let path = dir.join(ACTIVE_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        // A crash between writing the first key and `active`.
        Err(error) if error.kind() == io::ErrorKind::NotFound && keys.len() == 1 => {
            write_file(dir, ACTIVE_FILE, format!("{}\n", keys[0].kid).as_bytes())?;
            return Ok(keys[0].kid.clone());
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::NoActiveKey { path });
        }
        Err(error) => return Err(io_error(&path)(error)),
    };
    let contents = read_small_file(file, &path)?;
    let kid = String::from_utf8_lossy(&contents);
    let kid = kid.strip_suffix('\n').unwrap_or(&kid);
    if !keys.iter().any(|key| key.kid == kid) {
        return Err(KeyError::ActiveKeyMissing {
            path,
            kid: kid.to_owned(),
        });
    }
    Ok(kid.to_owned())
}

fn parse_seed(contents: &[u8]) -> Option<[u8; 32]> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    let hex = contents.strip_suffix(b"\n")?;
    if hex.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (byte, pair) in seed.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(seed)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(bytes)
}

fn create_key(dir: &Path) -> Result<RingKey, KeyError> {
    let key = ring_key(SigningKey::from_bytes(&random::<32>()?));
    let contents = format!("{}\n", hex(key.signing.as_bytes()));
    // Renaming over an existing file of the same name is harmless: the kid
    // is derived from the key, so that file would hold this same key.
    write_file(
        dir,
        &format!("{}{KEY_FILE_SUFFIX}", key.kid),
        contents.as_bytes(),
    )?;
    Ok(key)
}

/// Writes `dir/name` all at once: a new temporary file (mode 0600), fsync,
/// rename, fsync of the directory.
fn write_file(dir: &Path, name: &str, contents: &[u8]) -> Result<(), KeyError> {
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.{}.tmp", hex(&random::<8>()?)));
    let written = write_and_rename(dir, &temporary, &path, contents);
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(io_error(&path))
}

fn write_and_rename(dir: &Path, temporary: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temporary, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn claims() -> DownloadClaims {
        DownloadClaims {
            shipment_id: "shp_01".to_owned(),
            token_id: "tok_01".to_owned(),
            issued_at: T0,
            expires_at: T0 + Duration::days(7),
        }
    }

    fn keys_dir() -> (tempfile::TempDir, PathBuf) {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data").join("keys");
        (temp, dir)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn key_path(dir: &Path, kid: &str) -> PathBuf {
        dir.join(format!("{kid}{KEY_FILE_SUFFIX}"))
    }

    fn kid_in_footer(token: &str) -> String {
        let footer: Footer = serde_json::from_slice(&paseto::footer_of(token).unwrap()).unwrap();
        footer.kid
    }

    #[test]
    fn key_ring_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeyRing>();
    }

    #[test]
    fn creates_a_private_first_key_and_reloads_it() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let kid = ring.active_kid().to_owned();
        assert!(kid.starts_with("k4.") && kid.len() == 3 + 22, "{kid}");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&key_path(&dir, &kid)), 0o600);
        assert_eq!(
            fs::read_to_string(dir.join(ACTIVE_FILE)).unwrap(),
            format!("{kid}\n")
        );
        let contents = fs::read_to_string(key_path(&dir, &kid)).unwrap();
        assert_eq!(contents.len(), 65);
        assert!(
            contents
                .trim_end()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");

        let token = ring.issue(&claims());
        assert_eq!(kid_in_footer(&token), kid);
        let reloaded = KeyRing::load_or_create(&dir).unwrap();
        assert_eq!(reloaded.active_kid(), kid);
        assert_eq!(reloaded.public_keys(), ring.public_keys());
        assert_eq!(reloaded.verify(&token, T0).unwrap(), claims());
    }

    #[test]
    fn kid_is_derived_from_the_published_public_key() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let published = ring.public_keys();
        assert_eq!(published.len(), 1);
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&published[0].public_key)
            .unwrap()
            .try_into()
            .unwrap();
        let hash = blake3::hash(&bytes);
        assert_eq!(
            published[0].kid,
            format!("k4.{}", URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16]))
        );

        // Anyone holding the published key can verify offline.
        let token = ring.issue(&claims());
        let key = VerifyingKey::from_bytes(&bytes).unwrap();
        let verified = paseto::verify(&key, &token, DOWNLOAD_IMPLICIT_ASSERTION).unwrap();
        let message: serde_json::Value = serde_json::from_slice(&verified.message).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"sub": "shp_01", "jti": "tok_01",
                "iat": "2030-01-01T12:00:00Z", "exp": "2030-01-08T12:00:00Z"})
        );
        assert_eq!(
            verified.footer,
            format!("{{\"kid\":\"{}\"}}", published[0].kid).as_bytes()
        );
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_keeps_the_old() {
        let (_temp, dir) = keys_dir();
        let first = KeyRing::load_or_create(&dir).unwrap();
        let old_token = first.issue(&claims());

        let new_kid = KeyRing::rotate(&dir).unwrap();
        assert_ne!(new_kid, first.active_kid());
        assert_eq!(mode(&key_path(&dir, &new_kid)), 0o600);
        let ring = KeyRing::load_or_create(&dir).unwrap();
        assert_eq!(ring.active_kid(), new_kid);
        let kids: Vec<_> = ring.public_keys().into_iter().map(|key| key.kid).collect();
        assert_eq!(kids, [new_kid.clone(), first.active_kid().to_owned()]);

        let new_token = ring.issue(&claims());
        assert_eq!(kid_in_footer(&new_token), new_kid);
        assert_eq!(ring.verify(&new_token, T0).unwrap(), claims());
        assert_eq!(ring.verify(&old_token, T0).unwrap(), claims());
        // The ring loaded before the rotation does not know the new key.
        assert_eq!(first.verify(&new_token, T0), Err(TokenError::UnknownKey));

        let third = KeyRing::rotate(&dir).unwrap();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        assert_eq!(ring.active_kid(), third);
        assert_eq!(ring.public_keys().len(), 3);
        assert!(ring.verify(&old_token, T0).is_ok());
    }

    #[test]
    fn rotate_creates_the_directory_if_need_be() {
        let (_temp, dir) = keys_dir();
        let kid = KeyRing::rotate(&dir).unwrap();
        assert_eq!(KeyRing::load_or_create(&dir).unwrap().active_kid(), kid);
    }

    #[test]
    fn expiry_and_issue_time_use_the_given_clock() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let claims = claims();
        let token = ring.issue(&claims);
        let exp = claims.expires_at;
        let skew = Duration::seconds(IAT_FUTURE_SECS_MAX);

        for (now, ok) in [
            (exp - Duration::seconds(1), true),
            (T0, true),
            (T0 - skew, true),
            (exp, false),
            (exp + Duration::days(400), false),
        ] {
            let result = ring.verify(&token, now);
            if ok {
                assert_eq!(result, Ok(claims.clone()), "at {now}");
            } else {
                assert_eq!(
                    result,
                    Err(TokenError::Expired { expired_at: exp }),
                    "at {now}"
                );
            }
        }
        assert_eq!(
            ring.verify(&token, T0 - skew - Duration::seconds(1)),
            Err(TokenError::Invalid("issued in the future".to_owned()))
        );
    }

    #[test]
    fn times_survive_with_offsets_and_fractions() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let claims = DownloadClaims {
            issued_at: datetime!(2030-01-01 14:00:00.25 +02:00),
            expires_at: datetime!(2030-01-02 12:00:00.123456789 UTC),
            ..claims()
        };
        let verified = ring.verify(&ring.issue(&claims), T0).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.issued_at.offset(), UtcOffset::UTC);
    }

    #[test]
    fn tampered_tokens_are_invalid() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let token = ring.issue(&claims());
        let body_start = paseto::HEADER.len();
        for at in [body_start, body_start + 20, token.rfind('.').unwrap() + 1] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                matches!(ring.verify(&tampered, T0), Err(TokenError::Invalid(_))),
                "{tampered}"
            );
        }
        for garbage in [
            "",
            "v4.public.",
            "v4.local.abc",
            "not a token",
            &token[..token.len() - 3],
        ] {
            assert!(
                matches!(ring.verify(garbage, T0), Err(TokenError::Invalid(_))),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn tokens_from_another_key_are_refused() {
        let (_temp, dir) = keys_dir();
        let (_other_temp, other_dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let other = KeyRing::load_or_create(&other_dir).unwrap();
        assert_eq!(
            ring.verify(&other.issue(&claims()), T0),
            Err(TokenError::UnknownKey)
        );

        // The footer names our key, but a foreign key signed it.
        let message = paseto::verify(
            &ring.keys[0].verifying,
            &ring.issue(&claims()),
            DOWNLOAD_IMPLICIT_ASSERTION,
        )
        .unwrap()
        .message;
        let footer = format!("{{\"kid\":\"{}\"}}", ring.active_kid());
        let forged = paseto::sign(
            &other.keys[0].signing,
            &message,
            footer.as_bytes(),
            DOWNLOAD_IMPLICIT_ASSERTION,
        );
        assert_eq!(
            ring.verify(&forged, T0),
            Err(TokenError::Invalid("signature does not verify".to_owned()))
        );
    }

    /// Signs `message` and `footer` with the ring's active key, to check
    /// how `verify` treats what `issue` would never write.
    fn check(message: &str, footer: Option<&str>, implicit: &[u8], expected: Result<(), &str>) {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let kid_footer = format!("{{\"kid\":\"{}\"}}", ring.active_kid());
        let footer = footer.unwrap_or(&kid_footer);
        let token = paseto::sign(
            &ring.keys[0].signing,
            message.as_bytes(),
            footer.as_bytes(),
            implicit,
        );
        let result = ring.verify(&token, T0).map(|_| ());
        assert_eq!(
            result,
            expected.map_err(|reason| TokenError::Invalid(reason.to_owned())),
            "message {message}, footer {footer}"
        );
    }

    #[test]
    fn claims_and_footer_are_parsed_strictly() {
        const IA: &[u8] = DOWNLOAD_IMPLICIT_ASSERTION;
        let good =
            r#"{"sub":"s","jti":"j","iat":"2030-01-01T12:00:00Z","exp":"2030-01-02T12:00:00Z"}"#;
        check(good, None, IA, Ok(()));
        check(
            good,
            None,
            b"another-purpose",
            Err("signature does not verify"),
        );
        check(good, None, b"", Err("signature does not verify"));
        check(good, Some(""), IA, Err("no key id"));
        check(good, Some("{}"), IA, Err("no key id"));
        check(good, Some(r#"{"kid":7}"#), IA, Err("no key id"));
        check(good, Some("kid"), IA, Err("no key id"));

        for message in [
            r#"{"sub":"s","jti":"j","iat":"2030-01-01T12:00:00Z"}"#,
            r#"{"sub":"s","iat":"2030-01-01T12:00:00Z","exp":"2030-01-02T12:00:00Z"}"#,
            r#"{"sub":1,"jti":"j","iat":"2030-01-01T12:00:00Z","exp":"2030-01-02T12:00:00Z"}"#,
            r#"{"sub":"s","jti":"j","iat":"2030-01-01T12:00:00Z","exp":1893585600}"#,
            r#"{"sub":"s","jti":"j","iat":"2030-01-01T12:00:00Z","exp":"tomorrow"}"#,
            r#"{"sub":"s","jti":"j","iat":"2030-01-01","exp":"2030-01-02T12:00:00Z"}"#,
            r#"{"sub":"s","jti":"j","iat":"2030-01-01T12:00:00Z","exp":"2030-01-02T12:00:00Z","x":1}"#,
            r#"{"sub":"s","sub":"t","jti":"j","iat":"2030-01-01T12:00:00Z","exp":"2030-01-02T12:00:00Z"}"#,
            r#"["s","j","2030-01-01T12:00:00Z","2030-01-02T12:00:00Z"]"#,
            "",
            "null",
            " {}",
        ] {
            check(message, None, IA, Err("malformed claims"));
        }
    }

    #[test]
    fn malformed_key_files_are_named() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let path = key_path(&dir, ring.active_kid());
        let valid = fs::read_to_string(&path).unwrap();

        for contents in [
            "not hex\n".to_owned(),
            valid.trim_end().to_owned(),
            valid.to_uppercase(),
            format!("{valid}\n"),
            valid[2..].to_owned(),
            String::new(),
        ] {
            fs::write(&path, &contents).unwrap();
            let error = KeyRing::load_or_create(&dir).unwrap_err();
            assert!(
                matches!(&error, KeyError::Malformed { path: p, .. } if *p == path),
                "{error:?}"
            );
            assert!(
                error
                    .to_string()
                    .contains(&format!("{}.ed25519", ring.active_kid())),
                "{error}"
            );
        }

        // Valid contents under another key's name.
        fs::write(&path, &valid).unwrap();
        let wrong_name = dir.join("k4.AAAAAAAAAAAAAAAAAAAAAA.ed25519");
        fs::rename(&path, &wrong_name).unwrap();
        let error = KeyRing::load_or_create(&dir).unwrap_err();
        assert!(
            matches!(&error, KeyError::Malformed { path, .. } if *path == wrong_name),
            "{error:?}"
        );
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let path = key_path(&dir, ring.active_kid());
        for mode in [0o644, 0o640, 0o604, 0o606, 0o700 | 0o010] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let error = KeyRing::load_or_create(&dir).unwrap_err();
            assert!(
                matches!(&error, KeyError::InsecurePermissions { path: p, mode: m } if *p == path && *m == mode),
                "{error:?}"
            );
            assert!(error.to_string().contains(ring.active_kid()), "{error}");
        }
        for mode in [0o600, 0o400] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert!(KeyRing::load_or_create(&dir).is_ok());
        }
    }

    #[test]
    fn the_active_file_is_checked_and_recovered() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let active = dir.join(ACTIVE_FILE);

        // Crash after the first key, before `active`: recovered.
        fs::remove_file(&active).unwrap();
        assert_eq!(
            KeyRing::load_or_create(&dir).unwrap().active_kid(),
            ring.active_kid()
        );
        assert_eq!(
            fs::read_to_string(&active).unwrap(),
            format!("{}\n", ring.active_kid())
        );

        fs::write(&active, "k4.AAAAAAAAAAAAAAAAAAAAAA\n").unwrap();
        let error = KeyRing::load_or_create(&dir).unwrap_err();
        assert!(
            matches!(&error, KeyError::ActiveKeyMissing { kid, .. } if kid == "k4.AAAAAAAAAAAAAAAAAAAAAA")
        );

        KeyRing::rotate(&dir).unwrap_err();
        fs::write(&active, format!("{}\n", ring.active_kid())).unwrap();
        KeyRing::rotate(&dir).unwrap();
        fs::remove_file(&active).unwrap();
        let error = KeyRing::load_or_create(&dir).unwrap_err();
        assert!(matches!(error, KeyError::NoActiveKey { .. }), "{error:?}");
    }

    #[test]
    fn other_files_in_the_directory_are_ignored() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        fs::write(dir.join(".k4.x.ed25519.0011223344556677.tmp"), "half").unwrap();
        fs::write(dir.join("README"), "keys").unwrap();
        let reloaded = KeyRing::load_or_create(&dir).unwrap();
        assert_eq!(reloaded.active_kid(), ring.active_kid());
        assert_eq!(reloaded.public_keys().len(), 1);
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let (_temp, dir) = keys_dir();
        let ring = KeyRing::load_or_create(&dir).unwrap();
        let secret = hex(ring.keys[0].signing.as_bytes());
        let debug = format!("{ring:?}");
        assert!(debug.contains(ring.active_kid()));
        assert!(!debug.contains(&secret));
    }
}
