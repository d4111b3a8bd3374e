"""Partner websites sign their users in with Keystead: clients, the OpenID Connect provider
(Authlib) and the embeddable passkey sign-in."""
