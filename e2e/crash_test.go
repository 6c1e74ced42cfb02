package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/internal/pgtest"
)

// TestCrashResume: 50 move journeys run while the whole process is killed
// with SIGKILL at random moments and restarted. Every journey reaches its
// end; every proposal, transfer and submission exists once.
//
// Standing consents let waste bins and the parking permit be applied for
// automatically (transfer, submission, sample agency's answer); the other
// proposals expire at their deadline, compressed by --time-scale.
func TestCrashResume(t *testing.T) {
	if os.Getenv("LIFEEVENTS_SLOW_TESTS") == "" {
		t.Skip("slow suite (about 5 minutes): make test-slow runs it, and CI does")
	}
	url := pgtest.URL(t)
	dir := dataDir(t)
	ports := newPorts(t)
	env := []string{"DATABASE_URL=" + url, "LIFEEVENTS_TIME_SCALE=0.00001", "LIFEEVENTS_AGENCY_DELAY=200ms"}
	dev := startDev(t, dir, ports, env...)
	erika := dev.token("c-1001", "citizen")
	for _, svc := range []struct{ id, recipient string }{{"waste_bins", "abfallwirtschaft-landkreis"}, {"parking_permit", "ordnungsamt-03353022"}} {
		fields := []string{"applicantId", "householdId", "newAddress", "householdSize", "binSize", "wasteDistrict"}
		if svc.id == "parking_permit" {
			fields = []string{"name", "newAddress", "plate", "parkingZone"}
		}
		body := map[string]any{"kind": "standing", "purpose": svc.id, "recipient": svc.recipient, "fields": fields}
		if code := dev.post("/api/v1/me/consents", erika, body, nil); code != http.StatusCreated {
			t.Fatalf("standing consent for %s: %d", svc.id, code)
		}
	}

	const journeys = 50
	rnd := rand.New(rand.NewPCG(7, 11))
	kills := 0
	for i := range journeys {
		dev.emit(event(t, "move.json", fmt.Sprintf("crash-%02d", i)))
		if i == 30 {
			// Erika takes back her standing consent for the parking permit
			// while journeys apply for it: each of those ends either
			// submitted (with its transfer) or withdrawn (with none).
			var mine struct {
				Items []struct{ ID, Purpose, Status string }
			}
			dev.get("/api/v1/me/consents", erika, &mine)
			withdrawn := 0
			for _, c := range mine.Items {
				if c.Purpose == "parking_permit" && c.Status == "active" {
					if code := dev.post("/api/v1/me/consents/"+c.ID+"/withdraw", erika, nil, nil); code != http.StatusOK {
						t.Fatalf("withdraw the parking permit's consent: %d", code)
					}
					withdrawn++
				}
			}
			if withdrawn == 0 {
				t.Fatalf("no active standing consent for the parking permit to withdraw: %+v", mine.Items)
			}
		}
		if i%12 == 11 {
			time.Sleep(time.Duration(rnd.IntN(2500)) * time.Millisecond)
			dev.kill(syscall.SIGKILL)
			kills++
			dev = startDev(t, dir, ports, env...)
		}
	}
	time.Sleep(time.Duration(rnd.IntN(2000)) * time.Millisecond)
	dev.kill(syscall.SIGKILL)
	kills++
	dev = startDev(t, dir, ports, env...)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(sql string) int {
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	// A kill can leave an activity in flight; it is retried only after its
	// start-to-close timeout, so several kills can add up to minutes.
	deadline := time.Now().Add(8 * time.Minute)
	for count(`SELECT count(*) FROM life_events WHERE id LIKE 'crash-%' AND status = 'completed'`) < journeys {
		if time.Now().After(deadline) {
			t.Errorf("%d of %d journeys completed after the crashes; proposals by status: %v", count(`SELECT count(*) FROM life_events WHERE id LIKE 'crash-%' AND status = 'completed'`), journeys, byStatus(t, conn))
			dev.describeStuck(t, conn)
			t.FailNow()
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := count(`SELECT count(*) FROM proposals WHERE life_event_id LIKE 'crash-%' AND status IN ('pending', 'accepted', 'submitted')`); n != 0 {
		t.Fatalf("%d proposals did not reach a final status: %v", n, byStatus(t, conn))
	}
	if n := count(`SELECT count(*) FROM proposals WHERE life_event_id LIKE 'crash-%'`); n != journeys*4 {
		t.Fatalf("%d proposals, want %d (4 per move)", n, journeys*4)
	}
	if n := count(`SELECT count(*) FROM (SELECT proposal_id FROM transfers GROUP BY proposal_id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d proposals transferred more than once", n)
	}
	transfers := count(`SELECT count(*) FROM transfers WHERE proposal_id IN (SELECT id FROM proposals WHERE life_event_id LIKE 'crash-%')`)
	submissions := count(`SELECT count(*) FROM submissions WHERE proposal_id IN (SELECT id FROM proposals WHERE life_event_id LIKE 'crash-%')`)
	granted := count(`SELECT count(*) FROM proposals WHERE life_event_id LIKE 'crash-%' AND status = 'granted'`)
	if transfers != submissions || submissions != granted || granted == 0 {
		t.Fatalf("transfers %d, submissions %d, granted %d: each granted proposal has exactly one of each", transfers, submissions, granted)
	}
	if n := count(`SELECT count(*) FROM proposals p WHERE life_event_id LIKE 'crash-%' AND status = 'granted'
		AND (SELECT count(*) FROM transfers t WHERE t.proposal_id = p.id) <> 1`); n != 0 {
		t.Fatalf("%d granted proposals without exactly one transfer", n)
	}
	if n := dev.checkOutcomes(t, conn, "crash-"); n != journeys*4 {
		t.Fatalf("checked %d proposals against their journeys, want %d", n, journeys*4)
	}
	t.Logf("%d journeys, %d kills: %v, %d transfers", journeys, kills, byStatus(t, conn), transfers)
	dev.kill(syscall.SIGTERM)
}

func byStatus(t *testing.T, conn *pgx.Conn) map[string]int {
	rows, err := conn.Query(context.Background(), `SELECT status, count(*) FROM proposals WHERE life_event_id LIKE 'crash-%' GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		_ = rows.Scan(&s, &n)
		out[s] = n
	}
	return out
}

// describeStuck logs where the unfinished journeys stand, for the next
// person who has to find out why.
func (p *devProc) describeStuck(t *testing.T, conn *pgx.Conn) {
	ctx := context.Background()
	tc, err := client.Dial(client.Options{HostPort: p.temporal, Namespace: "default"})
	if err != nil {
		t.Logf("describe: %v", err)
		return
	}
	defer tc.Close()
	rows, err := conn.Query(ctx, `SELECT p.id, p.service, p.status, e.id, e.status FROM proposals p JOIN life_events e ON e.id = p.life_event_id
		WHERE e.id LIKE 'crash-%' AND (e.status <> 'completed' OR p.status IN ('pending', 'accepted', 'submitted'))`)
	if err != nil {
		t.Logf("describe: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var pid, svc, pst, eid, est string
		_ = rows.Scan(&pid, &svc, &pst, &eid, &est)
		for _, wid := range []string{"lifeevent/" + eid, "proposal/" + pid} {
			d, err := tc.DescribeWorkflowExecution(ctx, wid, "")
			if err != nil {
				t.Logf("%s (%s %s, event %s): %v", wid, svc, pst, est, err)
				continue
			}
			info := d.GetWorkflowExecutionInfo()
			t.Logf("%s (%s %s, event %s): %v, history length %d, pending activities %d, pending children %d, pending workflow task %v",
				wid, svc, pst, est, info.GetStatus(), info.GetHistoryLength(), len(d.GetPendingActivities()), len(d.GetPendingChildren()), d.GetPendingWorkflowTask() != nil)
			for _, a := range d.GetPendingActivities() {
				t.Logf("  activity %s attempt %d state %v last failure %v", a.GetActivityType().GetName(), a.GetAttempt(), a.GetState(), a.GetLastFailure().GetMessage())
			}
		}
	}
}
