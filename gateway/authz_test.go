package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
)

// Subject-level authorization (SPEC section 6) end to end: a gateway whose NATS provider
// admits clients by the "subjects" claim of an HS256 JWT.

const authzSecret = "authz-test-secret-of-32-bytes-at-least"

// authzGateway is a test gateway whose NATS provider has authorization.
type authzGateway struct{ *testGateway }

// subj returns the broker subject of a subject of testEventsSDL.
func (g *authzGateway) subj(s string) string { return g.subject(s) }

// startAuthzGateway starts a test gateway (see startGateway) with authorization on its NATS
// provider: the jwt key, then authorization (YAML of the provider's authorization mapping
// after its jwt key, indented for it).
func startAuthzGateway(t *testing.T, authorization string) *authzGateway {
	t.Helper()
	t.Setenv("EDGATE_TEST_JWT_SECRET", authzSecret)
	provider := "        authorization:\n          jwt: { secret: \"${EDGATE_TEST_JWT_SECRET}\", algorithms: [HS256] }\n" + authorization
	return &authzGateway{startGateway(t, withProviderYAML(provider))}
}

// signToken signs an HS256 token allowing subjects (prefixed), valid for ttl.
func (g *authzGateway) signToken(t *testing.T, secret string, ttl time.Duration, subjects ...string) string {
	t.Helper()
	for i, s := range subjects {
		if s != ">" {
			subjects[i] = g.subj(s)
		}
	}
	claims := jwt.MapClaims{"sub": "test-client", "exp": time.Now().Add(ttl).Unix(), "subjects": subjects}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

// wantRefused asserts that an SSE subscription was answered with one error carrying code,
// then complete.
func wantRefused(t *testing.T, c *sseClient, code string) {
	t.Helper()
	got := c.next(t)
	if !strings.Contains(got, `"errors"`) || !strings.Contains(got, `"code":"`+code+`"`) {
		t.Fatalf("got %s, want an error with code %s", got, code)
	}
	select {
	case ev := <-c.events:
		if ev.Event != "complete" {
			t.Fatalf("got %+v after the error, want complete", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no complete after the error")
	}
}

// postAuth runs a query or mutation with an Authorization header ("" for none).
func (g *authzGateway) postAuth(t *testing.T, authorization, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// watch subscribes to subject on the test's own NATS connection.
func (g *authzGateway) watch(t *testing.T, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 16)
	sub, err := g.nc.ChanSubscribe(g.subj(subject), ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

const subscribeOne = `subscription($id: Int!) { employeeUpdated(id: $id) { id name } }`

func TestAuthorization_SubjectsFromTheTokenClaims(t *testing.T) {
	g := startAuthzGateway(t, "")
	one := g.signToken(t, authzSecret, time.Hour, "employeeUpdated.1")

	t.Run("allowed subject receives events", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", one)
		defer c.close()
		eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
		if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}` {
			t.Fatalf("got %s", got)
		}
		c.close()
		eventually(t, "unsubscribed", func() bool { return g.natsSubscriptions(t) == 0 })
	})

	t.Run("subject outside the claims is forbidden and subscribes nothing", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), subscribeOne, `{"id":2}`, "Authorization", one)
		wantRefused(t, c, "FORBIDDEN")
		if n := g.natsSubscriptions(t); n != 0 {
			t.Fatalf("%d NATS subscriptions after a refused subscription", n)
		}
		if g.Engine().Groups() != 0 || g.stats.Subscribers.Load() != 0 {
			t.Fatalf("groups %d, subscribers %d", g.Engine().Groups(), g.stats.Subscribers.Load())
		}
	})

	t.Run("no token is unauthenticated", func(t *testing.T) {
		wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`), "UNAUTHENTICATED")
	})

	t.Run("bad signature is unauthenticated", func(t *testing.T) {
		forged := g.signToken(t, "another-secret-of-32-bytes-at-least!!", time.Hour, ">")
		wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", forged), "UNAUTHENTICATED")
	})

	t.Run("expired token is unauthenticated", func(t *testing.T) {
		expired := g.signToken(t, authzSecret, -time.Minute, ">")
		wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", expired), "UNAUTHENTICATED")
		if n := g.natsSubscriptions(t); n != 0 {
			t.Fatalf("%d NATS subscriptions", n)
		}
	})

	t.Run("wildcard subject needs a covering pattern", func(t *testing.T) {
		const all = `subscription { employeeUpdates { id } }`
		wantRefused(t, subscribeSSE(t, g.URL(), all, "", "Authorization", g.signToken(t, authzSecret, time.Hour, "employeeUpdated.1", "employeeUpdated.2")), "FORBIDDEN")
		c := subscribeSSE(t, g.URL(), all, "", "Authorization", g.signToken(t, authzSecret, time.Hour, "employeeUpdated.>"))
		defer c.close()
		eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		g.publish(t, "employeeUpdated.7", `{"__typename":"Employee","id":7}`)
		if got := c.next(t); got != `{"data":{"employeeUpdates":{"id":7}}}` {
			t.Fatalf("got %s", got)
		}
		c.close()
		eventually(t, "unsubscribed", func() bool { return g.stats.Subscribers.Load() == 0 })
	})

	t.Run("unauthorized client does not join an authorized group", func(t *testing.T) {
		a := subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", one)
		defer a.close()
		eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		other := g.signToken(t, authzSecret, time.Hour, "employeeUpdated.2")
		wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", other), "FORBIDDEN")
		if n := g.stats.Subscribers.Load(); n != 1 {
			t.Fatalf("%d subscribers, want the authorized one only", n)
		}
		a.close()
		eventually(t, "unsubscribed", func() bool { return g.stats.Subscribers.Load() == 0 })
	})

	t.Run("publish outside the claims is forbidden and publishes nothing", func(t *testing.T) {
		msgs := g.watch(t, "employeeUpdated.>")
		got := g.postAuth(t, one, `mutation { updateEmployee(id: 2, name: "x") { success } }`)
		if !strings.Contains(got, `"code":"FORBIDDEN"`) || strings.Contains(got, `"success":true`) {
			t.Fatalf("got %s", got)
		}
		got = g.postAuth(t, "", `mutation { updateEmployee(id: 1, name: "x") { success } }`)
		if !strings.Contains(got, `"code":"UNAUTHENTICATED"`) {
			t.Fatalf("got %s", got)
		}
		// the allowed one goes through, and is the only message on the broker
		if got := g.postAuth(t, one, `mutation { updateEmployee(id: 1, name: "x") { success } }`); got != `{"data":{"updateEmployee":{"success":true}}}` {
			t.Fatalf("got %s", got)
		}
		select {
		case m := <-msgs:
			if m.Subject != g.subj("employeeUpdated.1") {
				t.Fatalf("published on %s", m.Subject)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the allowed publish did not arrive")
		}
		select {
		case m := <-msgs:
			t.Fatalf("unexpected message on %s", m.Subject)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("request outside the claims is forbidden", func(t *testing.T) {
		msgs := g.watch(t, "getEmployee.>")
		got := g.postAuth(t, one, `{ employeeFromEvent(id: 3) { id } }`)
		if !strings.Contains(got, `"code":"FORBIDDEN"`) {
			t.Fatalf("got %s", got)
		}
		select {
		case m := <-msgs:
			t.Fatalf("request sent on %s", m.Subject)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("WebSocket token from the init payload", func(t *testing.T) {
		c := dialWS(t, &testGateway{Gateway: g.Gateway}, "graphql-transport-ws")
		init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": one}})
		wsSend(t, c, string(init))
		if m := wsRead(t, c); m["type"] != "connection_ack" {
			t.Fatalf("got %v", m)
		}
		wsSend(t, c, `{"id":"no","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 2) { id } }"}}`)
		if m := wsRead(t, c); m["type"] != "error" || m["id"] != "no" || !strings.Contains(mustJSON(m["payload"]), `"code":"FORBIDDEN"`) {
			t.Fatalf("got %v", m)
		}
		wsSend(t, c, `{"id":"yes","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 1) { id name } }"}}`)
		eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
		if m := wsRead(t, c); m["type"] != "next" || m["id"] != "yes" || mustJSON(m["payload"]) != `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}` {
			t.Fatalf("got %v", m)
		}
		wsSend(t, c, `{"id":"yes","type":"complete"}`)
		eventually(t, "unsubscribed", func() bool { return g.stats.Subscribers.Load() == 0 })
	})

	t.Run("subscription ends when the token expires", func(t *testing.T) {
		// exp has one-second granularity: this token lives one to two seconds
		short := g.signToken(t, authzSecret, 1500*time.Millisecond, "employeeUpdated.1")
		c := subscribeSSE(t, g.URL(), subscribeOne, `{"id":1}`, "Authorization", short)
		defer c.close()
		eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		wantRefused(t, c, "UNAUTHENTICATED")
		eventually(t, "unsubscribed", func() bool { return g.natsSubscriptions(t) == 0 })
	})
}

func TestAuthorization_AllowAnonymousStillChecksPresentTokens(t *testing.T) {
	g := startAuthzGateway(t, `          allow_anonymous: true
          anonymous_subjects: ["*.employeeUpdated.>"]`) // "*": the test prefix

	anon := subscribeSSE(t, g.URL(), subscribeOne, `{"id":5}`)
	defer anon.close()
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	g.publish(t, "employeeUpdated.5", `{"__typename":"Employee","id":5}`)
	if got := anon.next(t); got != `{"data":{"employeeUpdated":{"id":5,"name":"Emeka Okafor"}}}` {
		t.Fatalf("got %s", got)
	}
	// outside anonymous_subjects
	wantRefused(t, subscribeSSE(t, g.URL(), `subscription { catalogChanged { __typename } }`, ""), "FORBIDDEN")
	// a token that is sent is verified and its claims apply
	wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":5}`, "Authorization", "Bearer not-a-jwt"), "UNAUTHENTICATED")
	wantRefused(t, subscribeSSE(t, g.URL(), subscribeOne, `{"id":5}`, "Authorization", g.signToken(t, authzSecret, time.Hour, "employeeUpdated.1")), "FORBIDDEN")
	if got := g.postAuth(t, "", `mutation { updateEmployee(id: 5, name: "x") { success } }`); got != `{"data":{"updateEmployee":{"success":true}}}` {
		t.Fatalf("anonymous publish: %s", got)
	}
}

// Kafka topics and Redis channels use name patterns ("*" = any run); here on Redis, with
// an ES256 public key.
func TestAuthorization_RedisChannelsWithAPublicKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	url := redisTestURL(t)
	svc := newRedisService(t, url)
	g := startEventGateway(t, eventGatewayConfig{
		events: "redis_events.graphql",
		providers: fmt.Sprintf("    redis:\n      - id: gw-test-redis\n        urls: [%q]\n"+
			"        authorization: { jwt: { public_key_file: %q }, claim: channels }\n", url, keyFile),
	})
	room, other := redisRoom("authz"), redisRoom("authz-other")
	claims := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "channels": []string{redisChannel(room) + "*"}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + signed

	wantRefused(t, subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, other), "Authorization", bearer), "FORBIDDEN")
	if n := svc.numSub(t, other); n != 0 {
		t.Fatalf("%d subscribers on the refused channel", n)
	}
	// an HS256 token is not accepted for a public key
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	forged, _ := hs.SignedString(der)
	wantRefused(t, subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room), "Authorization", "Bearer "+forged), "UNAUTHENTICATED")

	c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room), "Authorization", bearer)
	defer c.close()
	eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) == 1 })
	svc.publish(t, room, `{"__typename":"Employee","id":1}`)
	if got, want := c.next(t), `{"data":{"employeeUpdatedRedis":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
