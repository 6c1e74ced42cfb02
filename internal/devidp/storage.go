package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// loginLifetime bounds how long a started login may sit on the login
	// page; it also bounds how long abandoned requests occupy memory.
	loginLifetime = 10 * time.Minute
	// codeLifetime follows the short lifetime RFC 6749, section 4.1.2
	// recommends; the relying party redeems the code immediately.
	codeLifetime = time.Minute
)

var (
	errUnknownAuthRequest = errors.New("auth request unknown, expired or already completed")
	errUnknownClient      = errors.New("unknown client")
)

// authRequest is the state of one authorization request. The op receives
// copies only, because it reads them on other goroutines while the login
// page may be completing the original.
type authRequest struct {
	id            string
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	acrValues     []string

	expires  time.Time
	done     bool
	userID   string
	acr      string
	authTime time.Time
	// codeIssued makes the callback redeemable once, so one login yields
	// exactly one code.
	codeIssued bool
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return a.acr }
func (a *authRequest) GetAMR() []string                      { return nil }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.userID }
func (a *authRequest) Done() bool                            { return a.done }

func (a *authRequest) clone() *authRequest {
	c := *a
	c.scopes = slices.Clone(a.scopes)
	c.acrValues = slices.Clone(a.acrValues)
	if a.codeChallenge != nil {
		cc := *a.codeChallenge
		c.codeChallenge = &cc
	}
	return &c
}

type codeEntry struct {
	requestID string
	expires   time.Time
	// used codes stay until they expire so a replay can be recognised and
	// answered by revoking what the first redemption produced.
	used bool
}

type accessToken struct {
	requestID string
	clientID  string
	subject   string
	scopes    []string
	expires   time.Time
}

// storage implements op.Storage in memory for one client.
type storage struct {
	client        *client
	users         map[string]User
	key           *rsa.PrivateKey
	kid           string
	now           func() time.Time
	tokenLifetime time.Duration

	mu           sync.Mutex
	authRequests map[string]*authRequest
	codes        map[string]*codeEntry
	tokens       map[string]*accessToken
}

var _ op.Storage = (*storage)(nil)
var _ op.CanSetUserinfoFromRequest = (*storage)(nil)

func newStorage(cl *client, users []User, key *rsa.PrivateKey, kid string, now func() time.Time, tokenLifetime time.Duration) *storage {
	um := make(map[string]User, len(users))
	for _, u := range users {
		um[u.ID] = u
	}
	return &storage{
		client:        cl,
		users:         um,
		key:           key,
		kid:           kid,
		now:           now,
		tokenLifetime: tokenLifetime,
		authRequests:  make(map[string]*authRequest),
		codes:         make(map[string]*codeEntry),
		tokens:        make(map[string]*accessToken),
	}
}

// pruneLocked drops expired state; called on every write so a long-running
// dev server does not accumulate abandoned logins.
func (s *storage) pruneLocked(now time.Time) {
	for id, r := range s.authRequests {
		if !now.Before(r.expires) {
			delete(s.authRequests, id)
		}
	}
	for c, e := range s.codes {
		if !now.Before(e.expires) {
			delete(s.codes, c)
		}
	}
	for id, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, id)
		}
	}
}

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	// The op has already checked client, redirect URI and response type, so
	// these errors are safely redirected to the client as RFC 6749,
	// section 4.1.2.1 and RFC 7636, section 4.4.1 require.
	if req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		// There are no sessions, so the user always has to interact.
		return nil, oidc.ErrLoginRequired()
	}
	switch req.ResponseMode {
	case "", oidc.ResponseModeQuery, oidc.ResponseModeFragment:
	default:
		// form_post answers with an inline script, which the dev server's
		// CSP blocks; discovery does not advertise it.
		return nil, oidc.ErrInvalidRequest().WithDescription("unsupported response_mode")
	}

	now := s.now()
	r := &authRequest{
		id:           rand.Text(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       slices.Clone([]string(req.Scopes)),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		codeChallenge: &oidc.CodeChallenge{
			Challenge: req.CodeChallenge,
			Method:    req.CodeChallengeMethod,
		},
		acrValues: slices.Clone([]string(req.ACRValues)),
		expires:   now.Add(loginLifetime),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	s.authRequests[r.id] = r
	return r.clone(), nil
}

// pendingAuthRequest returns a copy of a request that still waits for the
// login page.
func (s *storage) pendingAuthRequest(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || r.done || !s.now().Before(r.expires) {
		return nil, errUnknownAuthRequest
	}
	return r.clone(), nil
}

// completeLogin records the login page's choice. It is the only place a
// request becomes done.
func (s *storage) completeLogin(id, userID, acr string) error {
	if _, ok := s.users[userID]; !ok {
		return fmt.Errorf("unknown user %q", userID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r, ok := s.authRequests[id]
	if !ok || r.done || !now.Before(r.expires) {
		return errUnknownAuthRequest
	}
	r.done = true
	r.userID = userID
	r.acr = acr
	r.authTime = now
	return nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || !s.now().Before(r.expires) {
		return nil, errUnknownAuthRequest
	}
	return r.clone(), nil
}

// AuthRequestByCode redeems the code: it is marked used in the same critical
// section that looks it up, so two concurrent exchanges cannot both succeed.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.codes[code]
	if !ok || !now.Before(e.expires) {
		return nil, errors.New("code unknown or expired")
	}
	if e.used {
		// RFC 6749, section 4.1.2: a reused code indicates it leaked, so
		// revoke the tokens the first redemption produced.
		for id, t := range s.tokens {
			if t.requestID == e.requestID {
				delete(s.tokens, id)
			}
		}
		delete(s.authRequests, e.requestID)
		return nil, errors.New("code already redeemed")
	}
	e.used = true
	r, ok := s.authRequests[e.requestID]
	if !ok || !r.done {
		return nil, errUnknownAuthRequest
	}
	return r.clone(), nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	r, ok := s.authRequests[id]
	if !ok || !r.done {
		return errUnknownAuthRequest
	}
	if r.codeIssued {
		return oidc.ErrInvalidRequest().WithDescription("an authorization code was already issued for this login")
	}
	r.codeIssued = true
	r.expires = now.Add(codeLifetime)
	s.codes[code] = &codeEntry{requestID: id, expires: r.expires}
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	r, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, fmt.Errorf("unsupported token request %T", req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	id := rand.Text()
	t := &accessToken{
		requestID: r.id,
		clientID:  r.clientID,
		subject:   r.userID,
		scopes:    slices.Clone(r.scopes),
		expires:   now.Add(s.tokenLifetime),
	}
	s.tokens[id] = t
	return id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrTokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenOrTokenID]
	if !ok {
		// RFC 7009, section 2.2: unknown tokens are not an error.
		return nil
	}
	if t.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.tokens, tokenOrTokenID)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct {
	key *rsa.PrivateKey
	kid string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct {
	key *rsa.PublicKey
	kid string
}

func (k publicKey) ID() string                         { return k.kid }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{key: s.key, kid: s.kid}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{key: &s.key.PublicKey, kid: s.kid}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, errUnknownClient
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	// Both comparisons always run so the timing does not tell which failed.
	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.client.id))
	secretOK := subtle.ConstantTimeCompare([]byte(clientSecret), []byte(s.client.secret))
	if idOK&secretOK != 1 {
		return errors.New("invalid client id or secret")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in the op; SetUserinfoFromRequest
// does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	valid := ok && t.subject == subject && s.now().Before(t.expires)
	var scopes []string
	if valid {
		scopes = slices.Clone(t.scopes)
	}
	s.mu.Unlock()
	if !valid {
		return errors.New("access token invalid or expired")
	}
	return s.setUserinfo(info, subject, scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	valid := ok && t.subject == subject && t.clientID == clientID && s.now().Before(t.expires)
	var tok accessToken
	if valid {
		tok = *t
		tok.scopes = slices.Clone(t.scopes)
	}
	s.mu.Unlock()
	if !valid {
		return errors.New("access token invalid, expired or issued to another client")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, tok.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = tok.scopes
	resp.ClientID = tok.clientID
	resp.Expiration = oidc.FromTime(tok.expires)
	return nil
}

// setUserinfo always sets the subject: the op copies the whole userinfo
// into the ID token, including an empty sub.
func (s *storage) setUserinfo(info *oidc.UserInfo, userID string, scopes []string) error {
	u, ok := s.users[userID]
	if !ok {
		return fmt.Errorf("unknown user %q", userID)
	}
	info.Subject = u.ID
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			info.Name = u.Name
		case oidc.ScopeEmail:
			info.Email = u.Email
		}
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses every key, which disables the JWT profile
// grant and private_key_jwt that the op always advertises.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("no key %q for client %q: JWT client authentication is not supported", keyID, clientID)
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// client is the single relying party: a confidential web client using the
// authorization code flow.
type client struct {
	id, secret             string
	redirectURIs           []string
	postLogoutRedirectURIs []string
	loginPath              string
	idTokenLifetime        time.Duration
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return slices.Clone(c.redirectURIs) }
func (c *client) PostLogoutRedirectURIs() []string    { return slices.Clone(c.postLogoutRedirectURIs) }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTokenLifetime }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

func (c *client) LoginURL(authRequestID string) string {
	return c.loginPath + "?authRequestID=" + url.QueryEscape(authRequestID)
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
