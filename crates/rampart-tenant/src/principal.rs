//! The app's verified caller, as the tenant resolver reads it.

/// Implemented by the app on the principal type its authentication layer
/// puts in the request's extensions: the tenant the caller belongs to.
///
/// This is the resolver to prefer: the tenant comes from a verified token,
/// not from anything the client can choose per request.
///
/// # Example
///
/// ```
/// use rampart_tenant::TenantPrincipal;
///
/// #[derive(Clone)]
/// struct Principal {
///     user_id: String,
///     org_id: String,
/// }
///
/// impl TenantPrincipal for Principal {
///     fn tenant_id(&self) -> Option<&str> {
///         Some(&self.org_id)
///     }
/// }
///
/// let principal = Principal { user_id: "u1".into(), org_id: "acme".into() };
/// assert_eq!(principal.tenant_id(), Some("acme"));
/// ```
pub trait TenantPrincipal: Send + Sync + 'static {
    /// The caller's tenant, or `None` for a caller that belongs to none (a
    /// platform operator, say), which the next resolver then gets to try.
    fn tenant_id(&self) -> Option<&str>;
}
