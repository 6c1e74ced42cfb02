package portal_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/httpapi"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/devidp"
	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/texts"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type anyCitizen struct{ id string }

func (a anyCitizen) Verify(string) (auth.Principal, error) {
	return auth.Principal{Subject: a.id, Roles: []string{auth.RoleCitizen}}, nil
}

// BenchmarkPostkorb measures the server time of the Postkorb page for a
// citizen with 200 proposals and 500 messages, on Postgres (its first page:
// 25 of each, newest first), next to the JSON list endpoints for the same
// data (all proposals and all messages) in the same run: p50 and p99 of
// each, and the ratio of the page's p99 to the JSON's.
func BenchmarkPostkorb(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b)
	bundle, err := policies.DefaultBundle()
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policies.NewEngine(ctx, bundle)
	if err != nil {
		b.Fatal(err)
	}
	props, box := proposals.NewPGStore(db), inbox.NewPGStore(db)
	now := time.Now().UTC()
	for i := range 200 {
		deadline := now.Add(time.Duration(i) * time.Hour)
		svc := []string{"waste_bins", "parking_permit", "dog_tax", "child_benefit"}[i%4]
		if _, err := props.Create(ctx, proposals.Proposal{ID: fmt.Sprintf("p-%03d", i), LifeEventID: fmt.Sprintf("ev-%d", i/4),
			CitizenID: "c-1001", Service: svc, Status: proposals.StatusPending,
			Recipient: proposals.Recipient{ID: "r", Name: "Abfallwirtschaft Landkreis"}, Purpose: "p",
			Basis: proposals.Basis{Kind: "consent"}, Fields: []proposals.Field{{Name: "newAddress", Value: "Lindenweg 4"}}, Deadline: &deadline}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 500 {
		if err := box.Send(ctx, inbox.Message{ID: fmt.Sprintf("m-%03d", i), CitizenID: "c-1001", Kind: "proposal",
			ProposalID: fmt.Sprintf("p-%03d", i%200), Key: "proposed",
			Args: map[string]string{"service": "waste_bins", "recipient": "Abfallwirtschaft Landkreis", "deadline": now.Format(time.RFC3339)}}); err != nil {
			b.Fatal(err)
		}
	}
	catalog, _ := texts.New()
	consents := consent.NewStore(db, engine, consent.Config{Controller: "Landkreis"})

	// The portal with its sessions in Postgres, logged in through the dev
	// provider once.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	idp, err := devidp.New(devidp.Config{Issuer: srv.URL + "/dev/idp", ClientID: "portal", ClientSecret: "secret",
		RedirectURIs: []string{srv.URL + "/auth/callback"}, Users: []devidp.User{{ID: "c-1001", Name: "Erika"}}})
	if err != nil {
		b.Fatal(err)
	}
	sessions := pgxstore.NewWithCleanupInterval(db, 0)
	p, err := portal.New(portal.Config{Issuer: srv.URL + "/dev/idp", ClientID: "portal", ClientSecret: "secret", PublicURL: srv.URL},
		portal.Deps{Proposals: props, Messages: box, Consents: consents, Decisions: decisions{newStore()}, Services: engine,
			Sessions: sessions, Texts: catalog})
	if err != nil {
		b.Fatal(err)
	}
	mux.Handle("/dev/idp/", idp.Handler())
	mux.Handle("/", p)
	br := newBrowser(&testing.T{}, srv.URL)
	if pg := br.login("c-1001", "STORK-QAA-Level-3"); pg.code != 200 {
		b.Fatalf("login: %d", pg.code)
	}
	u, _ := url.Parse(srv.URL)
	cookies := br.Jar.Cookies(u)

	api := httpapi.New(httpapi.Deps{Verifier: anyCitizen{"c-1001"}, Proposals: props, Messages: box, Texts: catalog,
		ServiceNames: engine.ServiceName, Metrics: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})

	page := func() {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != 200 || strings.Count(rec.Body.String(), `class="kern-card message"`) != 25 || !strings.Contains(rec.Body.String(), "Ältere Nachrichten") {
			b.Fatalf("postkorb: %d, %d bytes", rec.Code, rec.Body.Len())
		}
	}
	list := func() {
		for _, path := range []string{"/api/v1/me/proposals", "/api/v1/me/messages"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer x")
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%s: %d", path, rec.Code)
			}
		}
	}
	page() // the first view opens the 500 messages
	var pageT, listT []time.Duration
	b.ResetTimer()
	for b.Loop() {
		began := time.Now()
		page()
		pageT = append(pageT, time.Since(began))
		began = time.Now()
		list()
		listT = append(listT, time.Since(began))
	}
	b.StopTimer()
	q := func(d []time.Duration, f float64) float64 {
		slices.Sort(d)
		return float64(d[int(f*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(pageT, 0.5), "page-p50-ms")
	b.ReportMetric(q(pageT, 0.99), "page-p99-ms")
	b.ReportMetric(q(listT, 0.5), "json-p50-ms")
	b.ReportMetric(q(listT, 0.99), "json-p99-ms")
	b.ReportMetric(q(pageT, 0.99)/q(listT, 0.99), "page/json-p99")
	b.ReportMetric(0, "ns/op")
}
