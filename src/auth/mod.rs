//! Accounts: users with Argon2-hashed passwords ([`password`]) and a role, API tokens kept as
//! SHA-256 digests ([`token`]), and the check of the bearer token of every request
//! ([`Accounts::authenticate`]).
//!
//! On first start with an empty database the server makes an administrator, `admin`, and writes
//! its token to `<data dir>/admin-token` (mode 0600). Operators make more users with
//! `kindling admin create-user`; users sign in with `POST /auth/login` and make tokens of their
//! own with `POST /auth/tokens`. The dashboard signs in to a browser session ([`session`]): a
//! token of its own kind, kept in an HttpOnly cookie and checked with a CSRF proof.

pub mod password;
pub mod session;
pub mod throttle;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::AccountsConfig;
use crate::functions::registry::Scope;
pub use crate::model::{Role, TokenInfo, TokenKind, User};
use crate::quotas::{QuotaExceeded, QuotaOverrides};
use crate::store::{Store, StoreError, TokenRecord};
use crate::sync::lock;

/// The `tracing` target of audit lines: sign-ins refused, tokens made and revoked, users made
/// and deleted, quotas changed.
pub const AUDIT: &str = "kindling::audit";

/// The file, in the data dir, that receives the first administrator's token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The name of the administrator made on first start.
pub const FIRST_ADMIN: &str = "admin";
/// How long a token read from the database is trusted from memory, so that the check of a
/// request costs no query. A token revoked through the API stops working at once; one revoked by
/// `kindling admin reset-token` (another process) within this long.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// The longest lifetime a token may be given: ten years.
const MAX_TOKEN_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;
const MAX_TOKEN_NAME: usize = 64;

/// Why a request or an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs an API token: send 'Authorization: Bearer <token>'")]
    MissingToken,
    #[error("the Authorization header must be 'Bearer <token>' with a Kindling token (kdl_…)")]
    MalformedToken,
    #[error("the API token is not valid")]
    InvalidToken,
    #[error("the API token expired at {0}")]
    ExpiredToken(DateTime<Utc>),
    #[error("the API token was revoked")]
    RevokedToken,
    #[error(
        "this is a browser session, not an API token: make an API token on the dashboard's Account page or with POST /auth/tokens"
    )]
    SessionAsToken,
    #[error("the session cookie does not hold a browser session; sign in again")]
    NotASession,
    #[error(
        "this request carries the session cookie but not its CSRF proof ({}): the dashboard sends it; scripts use an API token",
        session::CSRF_HEADER
    )]
    CsrfRejected,
    #[error(
        "another site's page sent this request, and without authentication nothing tells it from the user's own"
    )]
    CrossSite,
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error(
        "too many sign-in attempts for this {}; try again in {} s",
        .0.by,
        retry_after_secs(.0)
    )]
    Throttled(throttle::Throttled),
    #[error("{0}")]
    WrongSignInToken(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("a user named '{0}' already exists")]
    UserExists(String),
    #[error("user '{0}' not found")]
    UserNotFound(String),
    #[error("token '{0}' not found")]
    TokenNotFound(String),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no randomness from the operating system: {0}")]
    Random(#[from] getrandom::Error),
    #[error("{0}")]
    Hash(String),
    #[error(
        "cannot write the administrator's token to {path}: {source} (run `kindling admin reset-token {FIRST_ADMIN}` for a new one)"
    )]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
}

/// When a throttled client may try again, in whole seconds (at least 1).
pub fn retry_after_secs(throttled: &throttle::Throttled) -> u64 {
    throttled.retry_after.as_secs_f64().ceil().max(1.0) as u64
}

impl AuthError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// A token just made, with its text: the only time the text is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Send it as `Authorization: Bearer <token>`. Shown this once: it is not stored.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 letters, digits, `_`, `-` or `.`.
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// Default `user`; only administrators may make administrators.
    pub role: Option<Role>,
}

/// `POST /auth/login`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Never the password, wherever credentials are logged or shown.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

/// How a browser signs in: a user name and password, or an API token pasted once. (No
/// `Debug`: it holds secrets.)
pub enum SignIn {
    Password(Credentials),
    Token(String),
}

/// `POST /auth/tokens`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. `ci`; default `api`.
    pub name: Option<String>,
    /// Lifetime in seconds; omitted: the token never expires.
    pub expires_in_secs: Option<u64>,
}

/// Who is calling: the user a request's token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The user's id, what `owner` holds.
    pub user: String,
    pub name: String,
    pub admin: bool,
}

impl Caller {
    /// The functions this caller may see and change.
    pub fn scope(&self) -> Scope<'_> {
        if self.admin {
            Scope::Admin(&self.user)
        } else {
            Scope::Owner(&self.user)
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.admin {
            Ok(())
        } else {
            Err(AuthError::Forbidden("this needs an administrator's token"))
        }
    }
}

impl From<&User> for Caller {
    fn from(user: &User) -> Self {
        Self {
            user: user.id.clone(),
            name: user.username.clone(),
            admin: user.role == Role::Admin,
        }
    }
}

struct Cached {
    record: Arc<TokenRecord>,
    fetched: Instant,
}

/// Users and tokens, and the check of each request's token.
pub struct Accounts {
    store: Store,
    data_dir: PathBuf,
    /// `false` with `--no-auth`: every request is `local`'s.
    enabled: bool,
    settings: AccountsConfig,
    /// The first administrator: who every caller is when authentication is off.
    local: Caller,
    cache: Mutex<HashMap<String, Cached>>,
    /// Bumped by every revocation: a token read from the store before it is not cached.
    revocations: AtomicU64,
    /// Argon2 takes ~19 MiB and tens of milliseconds per check: at most one per CPU at a time, so
    /// that a flood of logins queues instead of exhausting memory.
    hashing: tokio::sync::Semaphore,
    /// How many password attempts each user name and client may make.
    throttle: throttle::LoginThrottle,
}

impl Accounts {
    /// Opens the accounts of `store`, making the first administrator if there is no user yet.
    pub async fn open(
        store: Store,
        data_dir: &Path,
        enabled: bool,
        settings: AccountsConfig,
    ) -> Result<Self, AuthError> {
        bootstrap(&store, data_dir).await?;
        let local = store
            .users()
            .await?
            .iter()
            .find(|user| user.role == Role::Admin)
            .map(Caller::from)
            .ok_or_else(|| StoreError::Corrupt("there is no administrator".to_owned()))?;
        Ok(Self {
            store,
            data_dir: data_dir.to_path_buf(),
            enabled,
            local,
            cache: Mutex::default(),
            revocations: AtomicU64::new(0),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
            throttle: throttle::LoginThrottle::new(&settings.login),
            settings,
        })
    }

    /// The client a request comes from: its peer, or — when the peer is a trusted proxy — the
    /// last address of `X-Forwarded-For` that is not one.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        peer.map(|peer| {
            throttle::client_address(peer, forwarded_for, &self.settings.trusted_proxies)
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether browser sessions' cookies are `Secure` whatever the request says.
    pub fn secure_cookies(&self) -> bool {
        self.settings.secure_cookies
    }

    pub fn open_registration(&self) -> bool {
        self.settings.open_registration
    }

    /// The caller a request's `Authorization` header names.
    pub async fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
        if !self.enabled {
            return Ok(self.local.clone());
        }
        let header = authorization.ok_or(AuthError::MissingToken)?;
        let text = bearer(header).ok_or(AuthError::MalformedToken)?;
        let record = self.check(text, TokenKind::Api).await?;
        Ok(Caller::from(&record.user))
    }

    /// The caller a browser session's cookie names. `csrf_proof` is what a request that changes
    /// something presented as the session's CSRF proof (`None` for reading requests).
    pub async fn authenticate_session(
        &self,
        text: &str,
        csrf_proof: Option<&[u8]>,
    ) -> Result<Caller, AuthError> {
        if !self.enabled {
            return Ok(self.local.clone());
        }
        let record = self.check(text, TokenKind::Session).await?;
        if let Some(proof) = csrf_proof
            && !session::csrf_matches(text, proof)
        {
            return Err(AuthError::CsrfRejected);
        }
        Ok(Caller::from(&record.user))
    }

    /// The record of a presented token text that is valid now and of `kind`.
    async fn check(&self, text: &str, kind: TokenKind) -> Result<Arc<TokenRecord>, AuthError> {
        let id = token::id_of(text).ok_or(AuthError::MalformedToken)?;
        let record = self.record(id).await?.ok_or(AuthError::InvalidToken)?;
        if !token::matches(text, &record.digest) {
            return Err(AuthError::InvalidToken);
        }
        if record.info.kind != kind {
            return Err(match kind {
                TokenKind::Api => AuthError::SessionAsToken,
                TokenKind::Session => AuthError::NotASession,
            });
        }
        if record.info.revoked_at.is_some() {
            return Err(AuthError::RevokedToken);
        }
        if let Some(expiry) = record.info.expires_at
            && expiry <= Utc::now()
        {
            return Err(AuthError::ExpiredToken(expiry));
        }
        Ok(record)
    }

    /// A token's record, from memory when read recently.
    async fn record(&self, id: &str) -> Result<Option<Arc<TokenRecord>>, AuthError> {
        if let Some(cached) = lock(&self.cache).get(id)
            && cached.fetched.elapsed() < CACHE_TTL
        {
            return Ok(Some(cached.record.clone()));
        }
        let revocations = self.revocations.load(Ordering::Acquire);
        let Some(record) = self.store.token(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        {
            // A revocation since the read may have missed this record: then it is not kept.
            let mut cache = lock(&self.cache);
            if self.revocations.load(Ordering::Acquire) == revocations {
                cache.insert(
                    id.to_owned(),
                    Cached {
                        record: record.clone(),
                        fetched: Instant::now(),
                    },
                );
            }
        }
        // The last use is noted once per cache period, off the request's path; failing to note
        // it refuses nobody.
        let (store, id) = (self.store.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, Utc::now()).await {
                tracing::warn!(error = %e, "noting a token's last use failed");
            }
        });
        Ok(Some(record))
    }

    /// Checks a user name and password from `client` and makes a login token.
    pub async fn login(
        &self,
        credentials: Credentials,
        client: Option<IpAddr>,
    ) -> Result<(IssuedToken, User), AuthError> {
        let user = self.verify_password(credentials, client).await?;
        let lifetime = Duration::from_secs(self.settings.login_token_ttl_secs);
        let token = self
            .issue(&user.id, "login", TokenKind::Api, Some(lifetime))
            .await?;
        tracing::info!(target: AUDIT, user = %user.username, client = ?client, token = %token.info.id, "signed in: login token made");
        Ok((token, user))
    }

    /// The user whose name and password these are, if `client` may try now.
    async fn verify_password(
        &self,
        credentials: Credentials,
        client: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        // A name no user can have is not looked up, nor counted as a name, nor written to the
        // log: it may be anything, a password typed in the wrong field among others. (It is
        // still checked against a dummy hash, as an unknown name is: the answer takes as long.)
        let valid = check_username(&credentials.username).is_ok();
        let name = match valid {
            true => credentials.username.as_str(),
            false => "<not a user name>",
        };
        if let Err(throttled) = self.throttle.attempt(valid.then_some(name), client) {
            if self.throttle.audit_refusal() {
                tracing::info!(target: AUDIT, user = %name, client = ?client, by = throttled.by, "sign-in refused: too many attempts");
            }
            return Err(AuthError::Throttled(throttled));
        }
        let found = match valid {
            true => self.store.user_by_name(name).await?,
            false => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let password = credentials.password;
        let _turn = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let verified =
            tokio::task::spawn_blocking(move || password::verify(&password, hash.as_deref()))
                .await
                .map_err(|e| AuthError::Hash(e.to_string()))?;
        let user = user.filter(|_| verified);
        if user.is_none() {
            tracing::warn!(target: AUDIT, user = %name, client = ?client, "sign-in failed: wrong user name or password");
        }
        user.ok_or(AuthError::InvalidCredentials)
    }

    /// Opens a browser session, named `name`, for whoever a user name and password, or an API
    /// token, belong to. The session lasts `accounts.session_ttl_secs`, and no longer than the token it was
    /// opened with.
    pub async fn open_session(
        &self,
        sign_in: SignIn,
        name: &str,
        client: Option<IpAddr>,
    ) -> Result<(IssuedToken, User), AuthError> {
        let ttl_secs = self.settings.session_ttl_secs.min(MAX_TOKEN_LIFETIME_SECS);
        let ttl = chrono::Duration::seconds(ttl_secs as i64);
        let (user, lifetime) = match sign_in {
            SignIn::Password(credentials) => {
                (self.verify_password(credentials, client).await?, ttl)
            }
            SignIn::Token(text) => {
                let record = self
                    .check(text.trim(), TokenKind::Api)
                    .await
                    .map_err(|refusal| match refusal {
                        AuthError::MalformedToken => AuthError::WrongSignInToken(
                            "this is not a Kindling API token: those look like kdl_…",
                        ),
                        AuthError::InvalidToken => AuthError::WrongSignInToken(
                            "there is no such API token: check that it was copied whole",
                        ),
                        other => other,
                    })?;
                let left = record.info.expires_at.map(|expiry| expiry - Utc::now());
                (record.user.clone(), left.map_or(ttl, |left| left.min(ttl)))
            }
        };
        let lifetime = lifetime.to_std().unwrap_or_default();
        let session = self
            .issue(&user.id, name, TokenKind::Session, Some(lifetime))
            .await?;
        // Sessions that ended a day ago are of no more use, even as history.
        let ended = Utc::now() - chrono::Duration::days(1);
        self.store.forget_sessions(&user.id, ended).await?;
        Ok((session, user))
    }

    /// The browser session a cookie holds, valid now.
    pub async fn session(&self, text: &str) -> Result<Arc<TokenRecord>, AuthError> {
        self.check(text, TokenKind::Session).await
    }

    /// Ends the browser session a cookie holds, if it is one; anything else is left alone.
    pub async fn close_session(&self, text: &str) -> Result<(), AuthError> {
        let Some(id) = token::id_of(text) else {
            return Ok(());
        };
        let record = self.store.token(id).await?;
        if let Some(record) = record
            && record.info.kind == TokenKind::Session
            && token::matches(text, &record.digest)
        {
            self.store.revoke_token(id, Utc::now()).await?;
            self.forget(id);
        }
        Ok(())
    }

    /// Registers a user on behalf of `by`: administrators may register anyone; others only
    /// plain users, and only when registration is open.
    pub async fn register(&self, by: Option<&Caller>, input: NewUser) -> Result<User, AuthError> {
        let role = input.role.unwrap_or(Role::User);
        if !by.is_some_and(|caller| caller.admin) {
            if !self.settings.open_registration {
                return Err(match by {
                    None => AuthError::MissingToken,
                    Some(_) => AuthError::Forbidden(
                        "only an administrator can register users (open registration is off)",
                    ),
                });
            }
            if role == Role::Admin {
                return Err(AuthError::Forbidden(
                    "only an administrator can register an administrator",
                ));
            }
        }
        self.create_user(&input.username, role, Some(&input.password))
            .await
    }

    /// Makes a user (operators and administrators; no check of who asks).
    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<User, AuthError> {
        check_username(username)?;
        let hash = match password {
            Some(password) => {
                check_password(password)?;
                let password = password.to_owned();
                let _turn = self
                    .hashing
                    .acquire()
                    .await
                    .map_err(|e| AuthError::Hash(e.to_string()))?;
                let hash = tokio::task::spawn_blocking(move || password::hash(&password))
                    .await
                    .map_err(|e| AuthError::Hash(e.to_string()))?
                    .map_err(AuthError::Hash)?;
                Some(hash)
            }
            None => None,
        };
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            username: username.to_owned(),
            role,
            created_at: Utc::now(),
        };
        self.store
            .insert_user(&user, hash.as_deref())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AuthError::UserExists(username.to_owned()),
                other => other.into(),
            })?;
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.store.users().await?)
    }

    /// The user named `username`, if `by` may delete them: administrators may delete anyone
    /// but themselves (so one administrator is always left).
    pub async fn user_to_delete(&self, by: &Caller, username: &str) -> Result<User, AuthError> {
        by.require_admin()?;
        let user = self.user(username).await?;
        if user.id == by.user {
            return Err(AuthError::Forbidden(
                "you cannot delete yourself; another administrator can",
            ));
        }
        Ok(user)
    }

    /// Revokes every token and session of a user about to be deleted: from now on nothing
    /// they send is let in.
    pub async fn lock_out(&self, by: &Caller, user: &User) -> Result<(), AuthError> {
        self.store.revoke_tokens(&user.id, Utc::now()).await?;
        self.forget_user(&user.id);
        tracing::info!(target: AUDIT, by = %by.name, user = %user.username, "every token and session revoked, to delete the user");
        Ok(())
    }

    /// Deletes a user ([`Accounts::user_to_delete`]), locked out before, with their tokens and
    /// sessions.
    pub async fn delete_user(&self, by: &Caller, user: &User) -> Result<(), AuthError> {
        self.store.delete_user(&user.id).await?;
        self.forget_user(&user.id);
        tracing::info!(target: AUDIT, by = %by.name, user = %user.username, "user deleted");
        Ok(())
    }

    /// Drops a user's tokens from the cache; a read of one already under way is not cached.
    fn forget_user(&self, user_id: &str) {
        let mut cache = lock(&self.cache);
        self.revocations.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, cached| cached.record.user.id != user_id);
    }

    /// Sets the quota overrides of the user named `username` (administrators).
    pub async fn set_quotas(
        &self,
        by: &Caller,
        username: &str,
        overrides: &QuotaOverrides,
    ) -> Result<User, AuthError> {
        by.require_admin()?;
        let user = self.user(username).await?;
        self.store.set_quota_overrides(&user.id, overrides).await?;
        tracing::info!(target: AUDIT, by = %by.name, user = %user.username, quotas = ?overrides, "quotas changed");
        Ok(user)
    }

    pub async fn user(&self, username: &str) -> Result<User, AuthError> {
        self.store
            .user_by_name(username)
            .await?
            .map(|(user, _)| user)
            .ok_or_else(|| AuthError::UserNotFound(username.to_owned()))
    }

    /// Makes a token for the caller, who may hold at most `quota` active API tokens (browser
    /// sessions are not counted).
    pub async fn create_token(
        &self,
        caller: &Caller,
        input: NewToken,
        quota: u32,
    ) -> Result<IssuedToken, AuthError> {
        let name = input.name.unwrap_or_else(|| "api".to_owned());
        if name.trim().is_empty() || name.chars().count() > MAX_TOKEN_NAME {
            return Err(AuthError::invalid(
                "invalid_token_name",
                format!("a token's name has 1 to {MAX_TOKEN_NAME} characters"),
            ));
        }
        let lifetime = match input.expires_in_secs {
            Some(secs) if secs == 0 || secs > MAX_TOKEN_LIFETIME_SECS => {
                return Err(AuthError::invalid(
                    "invalid_expiry",
                    format!(
                        "expires_in_secs must be between 1 and {MAX_TOKEN_LIFETIME_SECS} (ten years); omit it for a token that never expires"
                    ),
                ));
            }
            secs => secs.map(Duration::from_secs),
        };
        let held = (self.store.tokens(Some(&caller.user)).await?)
            .iter()
            .filter(|record| record.info.kind == TokenKind::Api && record.info.active)
            .count();
        if held >= quota as usize {
            return Err(AuthError::Quota(QuotaExceeded::new(
                "tokens",
                quota.into(),
                format!("you already hold {held} active API tokens; revoke one first"),
            )));
        }
        let token = self
            .issue(&caller.user, &name, TokenKind::Api, lifetime)
            .await?;
        tracing::info!(target: AUDIT, user = %caller.name, token = %token.info.id, name = %name, "API token made");
        Ok(token)
    }

    async fn issue(
        &self,
        user_id: &str,
        name: &str,
        kind: TokenKind,
        lifetime: Option<Duration>,
    ) -> Result<IssuedToken, AuthError> {
        let (minted, info) = mint(name, kind, lifetime)?;
        self.store
            .insert_token(user_id, &info, &minted.digest)
            .await?;
        Ok(IssuedToken {
            token: minted.text,
            info,
        })
    }

    /// The tokens of the caller, or (administrators) of the user named `username`.
    pub async fn tokens(
        &self,
        caller: &Caller,
        username: Option<&str>,
    ) -> Result<Vec<TokenInfo>, AuthError> {
        let user_id = match username {
            Some(name) if name != caller.name => {
                caller.require_admin()?;
                self.user(name).await?.id
            }
            _ => caller.user.clone(),
        };
        Ok(self
            .store
            .tokens(Some(&user_id))
            .await?
            .into_iter()
            .map(|record| record.info)
            .collect())
    }

    /// Revokes one of the caller's tokens (administrators: anyone's). Others' tokens are
    /// "not found", as others' functions are.
    pub async fn revoke(&self, caller: &Caller, id: &str) -> Result<TokenInfo, AuthError> {
        let record = self
            .store
            .token(id)
            .await?
            .filter(|record| caller.admin || record.user.id == caller.user)
            .ok_or_else(|| AuthError::TokenNotFound(id.to_owned()))?;
        self.store.revoke_token(id, Utc::now()).await?;
        self.forget(id);
        tracing::info!(target: AUDIT, by = %caller.name, user = %record.user.username, token = %id, kind = %record.info.kind.as_str(), "token revoked");
        let info = record.info;
        let revoked_at = info.revoked_at.or_else(|| Some(Utc::now()));
        Ok(TokenInfo::new(
            info.id,
            info.name,
            info.kind,
            info.created_at,
            info.expires_at,
            info.last_used_at,
            revoked_at,
        ))
    }

    /// Drops a just-revoked token from the cache; a read of it already under way is not cached.
    fn forget(&self, id: &str) {
        let mut cache = lock(&self.cache);
        self.revocations.fetch_add(1, Ordering::AcqRel);
        cache.remove(id);
    }

    /// Revokes every token of a user and makes a new one named `name` (operators). The first
    /// administrator's new token also replaces the one in the data dir, when that file is there.
    pub async fn replace_tokens(
        &self,
        username: &str,
        name: &str,
    ) -> Result<IssuedToken, AuthError> {
        let user = self.user(username).await?;
        let (minted, info) = mint(name, TokenKind::Api, None)?;
        self.store
            .replace_tokens(&user.id, &info, &minted.digest)
            .await?;
        self.forget_user(&user.id);
        tracing::info!(target: AUDIT, user = %user.username, token = %info.id, "every token revoked, a new one made");
        let file = self.data_dir.join(ADMIN_TOKEN_FILE);
        if user.id == self.local.user && file.exists() {
            write_secret(&file, &minted.text)?;
        }
        Ok(IssuedToken {
            token: minted.text,
            info,
        })
    }
}

/// Makes the first administrator and its token file, if there is no user yet.
async fn bootstrap(store: &Store, data_dir: &Path) -> Result<(), AuthError> {
    let now = Utc::now();
    let admin = User {
        id: uuid::Uuid::now_v7().to_string(),
        username: FIRST_ADMIN.to_owned(),
        role: Role::Admin,
        created_at: now,
    };
    let (minted, info) = mint("first start", TokenKind::Api, None)?;
    if !store.bootstrap_admin(&admin, &info, &minted.digest).await? {
        return Ok(());
    }
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&file, &minted.text)?;
    tracing::info!(
        "created the administrator '{FIRST_ADMIN}'; its API token is in {} (readable by its owner only)",
        file.display()
    );
    Ok(())
}

fn mint(
    name: &str,
    kind: TokenKind,
    lifetime: Option<Duration>,
) -> Result<(token::Minted, TokenInfo), AuthError> {
    let minted = token::mint()?;
    let now = Utc::now();
    let expires_at = lifetime
        .and_then(|lifetime| chrono::Duration::from_std(lifetime).ok())
        .map(|lifetime| now + lifetime);
    let info = TokenInfo::new(
        minted.id.clone(),
        name.to_owned(),
        kind,
        now,
        expires_at,
        None,
        None,
    );
    Ok((minted, info))
}

/// Writes a token to a file only its owner can read.
fn write_secret(path: &Path, text: &str) -> Result<(), AuthError> {
    crate::data_dir::write_private(path, format!("{text}\n").as_bytes()).map_err(|source| {
        AuthError::TokenFile {
            path: path.display().to_string(),
            source,
        }
    })
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn check_username(name: &str) -> Result<(), AuthError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(AuthError::invalid(
            "invalid_username",
            format!("invalid user name '{name}': use 1 to 64 letters, digits, '_', '-' or '.'"),
        ))
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    let length = password.chars().count();
    if (password::MIN_LENGTH..=password::MAX_LENGTH).contains(&length) {
        Ok(())
    } else {
        Err(AuthError::invalid(
            "invalid_password",
            format!(
                "a password has {} to {} characters",
                password::MIN_LENGTH,
                password::MAX_LENGTH
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_headers() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"abc"), None);
        assert_eq!(bearer(&[0xff, b' ', b'a']), None);
    }

    #[test]
    fn checks_names_and_passwords() {
        assert!(check_username("alice.b-c_9").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert!(check_password("12345678").is_ok());
        assert!(check_password("1234567").is_err());
    }
}
