//! Containment's IAM adapter: [`IamPolicies`] with aws-sdk-iam — `PutRolePolicy`/`PutUserPolicy`,
//! `DeleteRolePolicy`/`DeleteUserPolicy`, `ListRolePolicies`/`ListUserPolicies`,
//! `GetRolePolicy`/`GetUserPolicy`, and `ListRoles`/`ListUsers` for `contain list`.
//!
//! IAM takes role and user **names** (unique in an account whatever their path), so a principal is
//! addressed by [`IamPrincipal::name`]. `GetRolePolicy` returns the document URL-encoded (RFC 3986);
//! it is decoded here (`ports::encoding`). A missing policy (`NoSuchEntity`) is not an error for delete
//! and get.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::live::containment::{IamError, IamPolicies, IamPrincipal, PrincipalKind};
use crate::ports::encoding::decode_policy_document;

#[derive(Clone, Debug)]
pub struct IamClient {
    client: aws_sdk_iam::Client,
}

impl IamClient {
    pub fn new(config: &aws_config::SdkConfig) -> IamClient {
        IamClient {
            client: aws_sdk_iam::Client::new(config),
        }
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
            let o = self
                .client
                .list_roles()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| err("ListRoles", e))?;
            out.extend(
                o.roles()
                    .iter()
                    .filter_map(|r| IamPrincipal::from_caller(r.arn())),
            );
            match o.marker() {
                Some(m) if o.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        marker = None;
        loop {
            let o = self
                .client
                .list_users()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| err("ListUsers", e))?;
            out.extend(
                o.users()
                    .iter()
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
