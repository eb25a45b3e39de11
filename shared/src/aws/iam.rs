//! Containment's IAM adapter: [`IamPolicies`] with aws-sdk-iam — `PutRolePolicy`/`PutUserPolicy`,
//! `DeleteRolePolicy`/`DeleteUserPolicy`, `ListRolePolicies`/`ListUserPolicies`,
//! `GetRolePolicy`/`GetUserPolicy`, and `ListRoles`/`ListUsers` for `contain list`.
//!
//! IAM takes role and user **names** (unique in an account whatever their path), so a principal is
//! addressed by [`IamPrincipal::name`]. `GetRolePolicy` returns the document URL-encoded (RFC 3986);
//! it is decoded here (`ports::encoding`). A missing policy (`NoSuchEntity`) is not an error for delete
//! and get.
//!
//! **Bounded and retried.** At most [`MAX_IAM_IN_FLIGHT`] IAM requests of one client are in flight at
//! once (a semaphore every call takes a permit of, whatever the caller's own concurrency), and each
//! request is retried by the SDK's standard retry strategy ([`retry_config`]: up to
//! [`IAM_MAX_ATTEMPTS`] attempts, exponential backoff with jitter from [`IAM_INITIAL_BACKOFF`], on
//! throttling — IAM's `Throttling` — transient errors and 5xx such as `ServiceFailure`). An error that
//! outlasts the attempts is returned (never silence).

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::live::containment::{IamError, IamPolicies, IamPrincipal, PrincipalKind};
use crate::ports::encoding::decode_policy_document;

/// At most this many IAM requests of one [`IamClient`] in flight (the core's apply loop uses the same
/// bound). IAM's control-plane request rates are account-wide and low; a batch that contains many
/// principals must not burst into them.
pub const MAX_IAM_IN_FLIGHT: usize = crate::live::containment::MAX_IAM_CALLS_IN_FLIGHT;
/// Attempts per IAM request (the first and up to four retries).
pub const IAM_MAX_ATTEMPTS: u32 = 5;
/// The first retry's backoff bound; it doubles per attempt (with jitter) up to [`IAM_MAX_BACKOFF`].
pub const IAM_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
pub const IAM_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The SDK retry strategy of every IAM call: standard mode (throttling, transient and 5xx errors),
/// [`IAM_MAX_ATTEMPTS`] attempts, backoff from [`IAM_INITIAL_BACKOFF`] to [`IAM_MAX_BACKOFF`]. At
/// most 0.5 + 1 + 2 + 4 = 7.5 s of waiting per request, within the functions' timeouts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(IAM_MAX_ATTEMPTS)
        .with_initial_backoff(IAM_INITIAL_BACKOFF)
        .with_max_backoff(IAM_MAX_BACKOFF)
}

/// The IAM client configuration the adapter uses: the shared AWS configuration plus
/// [`retry_config`]. (Tests add interceptors to it and build the client with
/// [`IamClient::from_conf`].)
pub fn iam_config(config: &aws_config::SdkConfig) -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::config::Builder::from(config).retry_config(retry_config())
}

#[derive(Clone, Debug)]
pub struct IamClient {
    client: aws_sdk_iam::Client,
    /// [`MAX_IAM_IN_FLIGHT`] permits, shared by the clones of this client.
    in_flight: Arc<Semaphore>,
}

impl IamClient {
    pub fn new(config: &aws_config::SdkConfig) -> IamClient {
        IamClient::from_conf(iam_config(config).build())
    }

    pub fn from_conf(conf: aws_sdk_iam::Config) -> IamClient {
        IamClient {
            client: aws_sdk_iam::Client::from_conf(conf),
            in_flight: Arc::new(Semaphore::new(MAX_IAM_IN_FLIGHT)),
        }
    }

    /// A permit for one IAM request (held until the request and its retries are done). Every call
    /// of this adapter takes one first.
    async fn permit(&self) -> SemaphorePermit<'_> {
        // The semaphore is never closed, so acquiring cannot fail.
        self.in_flight
            .acquire()
            .await
            .expect("the IAM semaphore is never closed")
    }
}

fn err<E, R>(
    operation: &'static str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> IamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let a = super::AwsError::from_sdk(operation, e);
    IamError {
        operation,
        message: a.brief(),
        code: a.code,
    }
}

fn no_such_entity(e: &IamError) -> bool {
    e.code.as_deref() == Some("NoSuchEntity")
}

impl IamPolicies for IamClient {
    async fn put_policy(
        &self,
        p: &IamPrincipal,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let _permit = self.permit().await;
        match p.kind {
            PrincipalKind::Role => self
                .client
                .put_role_policy()
                .role_name(&p.name)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("PutRolePolicy", e)),
            PrincipalKind::User => self
                .client
                .put_user_policy()
                .user_name(&p.name)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("PutUserPolicy", e)),
        }
    }

    async fn delete_policy(&self, p: &IamPrincipal, name: &str) -> Result<bool, IamError> {
        let permit = self.permit().await;
        let r = match p.kind {
            PrincipalKind::Role => self
                .client
                .delete_role_policy()
                .role_name(&p.name)
                .policy_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("DeleteRolePolicy", e)),
            PrincipalKind::User => self
                .client
                .delete_user_policy()
                .user_name(&p.name)
                .policy_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("DeleteUserPolicy", e)),
        };
        drop(permit);
        match r {
            Ok(()) => Ok(true),
            Err(e) if no_such_entity(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn policy_names(&self, p: &IamPrincipal) -> Result<Vec<String>, IamError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let permit = self.permit().await;
            let (page, truncated, next) = match p.kind {
                PrincipalKind::Role => {
                    let o = self
                        .client
                        .list_role_policies()
                        .role_name(&p.name)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| err("ListRolePolicies", e))?;
                    (
                        o.policy_names().to_vec(),
                        o.is_truncated(),
                        o.marker().map(str::to_string),
                    )
                }
                PrincipalKind::User => {
                    let o = self
                        .client
                        .list_user_policies()
                        .user_name(&p.name)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| err("ListUserPolicies", e))?;
                    (
                        o.policy_names().to_vec(),
                        o.is_truncated(),
                        o.marker().map(str::to_string),
                    )
                }
            };
            drop(permit);
            names.extend(page);
            match next {
                Some(m) if truncated => marker = Some(m),
                _ => return Ok(names),
            }
        }
    }

    async fn policy_document(
        &self,
        p: &IamPrincipal,
        name: &str,
    ) -> Result<Option<String>, IamError> {
        let permit = self.permit().await;
        let r = match p.kind {
            PrincipalKind::Role => self
                .client
                .get_role_policy()
                .role_name(&p.name)
                .policy_name(name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(|e| err("GetRolePolicy", e)),
            PrincipalKind::User => self
                .client
                .get_user_policy()
                .user_name(&p.name)
                .policy_name(name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(|e| err("GetUserPolicy", e)),
        };
        drop(permit);
        match r {
            Ok(d) => Ok(Some(decode_policy_document(&d))),
            Err(e) if no_such_entity(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn principals(&self) -> Result<Vec<IamPrincipal>, IamError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let permit = self.permit().await;
            let o = self
                .client
                .list_roles()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| err("ListRoles", e))?;
            drop(permit);
            out.extend(
                o.roles()
                    .iter()
                    // A principal with a path is never contained (the grant denies it), so
                    // it carries no deny of ours to sweep.
                    .filter(|r| !crate::live::containment::caller_has_path(r.arn()))
                    .filter_map(|r| IamPrincipal::from_caller(r.arn())),
            );
            match o.marker() {
                Some(m) if o.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        marker = None;
        loop {
            let permit = self.permit().await;
            let o = self
                .client
                .list_users()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| err("ListUsers", e))?;
            drop(permit);
            out.extend(
                o.users()
                    .iter()
                    // A principal with a path is never contained (the grant denies it), so
                    // it carries no deny of ours to sweep.
                    .filter(|u| !crate::live::containment::caller_has_path(u.arn()))
                    .filter_map(|u| IamPrincipal::from_caller(u.arn())),
            );
            match o.marker() {
                Some(m) if o.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}
