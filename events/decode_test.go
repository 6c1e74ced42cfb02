package events_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/events"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate decodes the example into a generic map, applies f and re-encodes.
func mutate(t *testing.T, base []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	return b
}

func data(m map[string]any) map[string]any { return m["data"].(map[string]any) }

func TestDecodeExamples(t *testing.T) {
	e, err := events.Decode(readExample(t, "move.json"), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.Move == nil || e.Move.CitizenID != "c-1001" || e.Move.To.Municipality != "03353022" || len(e.Move.Household) != 2 {
		t.Fatalf("move decoded as %+v", e.Move)
	}
	if e.Subject() != "c-1001" {
		t.Fatalf("subject %q", e.Subject())
	}
	b, err := events.Decode(readExample(t, "birth.json"), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if b.Birth == nil || len(b.Birth.Parents) != 2 || b.Subject() != "c-1001" {
		t.Fatalf("birth decoded as %+v", b.Birth)
	}
	// Encoding and decoding again yields the same event.
	enc, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := events.Decode(enc, nil, now)
	if err != nil || again.Move.MovedOn != e.Move.MovedOn || again.ID != e.ID {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
}

func TestDecodeBinaryMode(t *testing.T) {
	var env map[string]json.RawMessage
	_ = json.Unmarshal(readExample(t, "move.json"), &env)
	headers := map[string]string{
		"ce_specversion": "1.0", "ce_id": "bin-1", "ce_source": "urn:test",
		"ce_type": events.TypeMove, "content-type": "application/json",
	}
	e, err := events.Decode(env["data"], headers, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "bin-1" || e.Move.CitizenID != "c-1001" {
		t.Fatalf("got %+v", e)
	}
}

func TestRejections(t *testing.T) {
	move := readExample(t, "move.json")
	birth := readExample(t, "birth.json")
	cases := []struct {
		name  string
		value []byte
		code  string
	}{
		{"oversized", append(move, make([]byte, events.MaxSize)...), events.ReasonTooLarge},
		{"not json", []byte("hello"), events.ReasonMalformedJSON},
		{"spec version", mutate(t, move, func(m map[string]any) { m["specversion"] = "0.3" }), events.ReasonSpecVersion},
		{"no spec version", mutate(t, move, func(m map[string]any) { delete(m, "specversion") }), events.ReasonMissingAttribute},
		{"no id", mutate(t, move, func(m map[string]any) { delete(m, "id") }), events.ReasonMissingAttribute},
		{"no source", mutate(t, move, func(m map[string]any) { m["source"] = "" }), events.ReasonMissingAttribute},
		{"bad id", mutate(t, move, func(m map[string]any) { m["id"] = "Max Mustermann/1" }), events.ReasonBadID},
		{"unknown type", mutate(t, move, func(m map[string]any) { m["type"] = "lifeevents.death.registered.v1" }), events.ReasonUnknownType},
		{"bad time", mutate(t, move, func(m map[string]any) { m["time"] = "yesterday" }), events.ReasonBadTime},
		{"content type", mutate(t, move, func(m map[string]any) { m["datacontenttype"] = "text/xml" }), events.ReasonContentType},
		{"no data", mutate(t, move, func(m map[string]any) { delete(m, "data") }), events.ReasonMissingData},
		{"unknown field", mutate(t, move, func(m map[string]any) { data(m)["nickname"] = "x" }), events.ReasonMalformedData},
		{"wrong field type", mutate(t, move, func(m map[string]any) { data(m)["household"] = "all" }), events.ReasonMalformedData},
		{"no citizen", mutate(t, move, func(m map[string]any) { delete(data(m), "citizenId") }), events.ReasonMissingField},
		{"no household id", mutate(t, move, func(m map[string]any) { delete(data(m), "householdId") }), events.ReasonMissingField},
		{"bad citizen", mutate(t, move, func(m map[string]any) { data(m)["citizenId"] = "Erika Mustermann" }), events.ReasonBadCitizenID},
		{"no moved on", mutate(t, move, func(m map[string]any) { delete(data(m), "movedOn") }), events.ReasonMissingField},
		{"bad date", mutate(t, move, func(m map[string]any) { data(m)["movedOn"] = "01.11.2026" }), events.ReasonBadDate},
		{"move too far", mutate(t, move, func(m map[string]any) { data(m)["movedOn"] = "2020-01-01" }), events.ReasonMoveDateRange},
		{"bad municipality", mutate(t, move, func(m map[string]any) { data(m)["to"].(map[string]any)["municipality"] = "3353022" }), events.ReasonBadMunicipality},
		{"no street", mutate(t, move, func(m map[string]any) { delete(data(m)["from"].(map[string]any), "street") }), events.ReasonMissingField},
		{"bad postal code", mutate(t, move, func(m map[string]any) { data(m)["to"].(map[string]any)["postalCode"] = "D-21423" }), events.ReasonBadPostalCode},
		{"empty household", mutate(t, move, func(m map[string]any) { data(m)["household"] = []any{} }), events.ReasonMissingField},
		{"unknown role", mutate(t, move, func(m map[string]any) {
			data(m)["household"].([]any)[1].(map[string]any)["role"] = "lodger"
		}), events.ReasonUnknownRole},
		{"no role", mutate(t, move, func(m map[string]any) {
			delete(data(m)["household"].([]any)[1].(map[string]any), "role")
		}), events.ReasonMissingField},
		{"member born tomorrow", mutate(t, move, func(m map[string]any) {
			data(m)["household"].([]any)[1].(map[string]any)["birthDate"] = "2026-11-23"
		}), events.ReasonBirthInFuture},
		{"mover not in household", mutate(t, move, func(m map[string]any) { data(m)["citizenId"] = "c-9999" }), events.ReasonMoverNotInHouse},
		{"duplicate member", mutate(t, move, func(m map[string]any) {
			data(m)["household"].([]any)[1].(map[string]any)["citizenId"] = "c-1001"
		}), events.ReasonDuplicateMember},
		{"birth in future", mutate(t, birth, func(m map[string]any) { data(m)["birthDate"] = "2027-01-01" }), events.ReasonBirthInFuture},
		{"no child", mutate(t, birth, func(m map[string]any) { delete(data(m), "childId") }), events.ReasonMissingField},
		{"no birth date", mutate(t, birth, func(m map[string]any) { delete(data(m), "birthDate") }), events.ReasonMissingField},
		{"no birth place", mutate(t, birth, func(m map[string]any) { data(m)["birthPlace"] = " " }), events.ReasonMissingField},
		{"birth municipality", mutate(t, birth, func(m map[string]any) { data(m)["municipality"] = "Winsen" }), events.ReasonBadMunicipality},
		{"no parent", mutate(t, birth, func(m map[string]any) { data(m)["parents"] = []any{} }), events.ReasonNoParent},
		{"parent twice", mutate(t, birth, func(m map[string]any) {
			data(m)["parents"] = []any{map[string]any{"citizenId": "c-1"}, map[string]any{"citizenId": "c-1"}}
		}), events.ReasonDuplicateMember},
		{"bad parent", mutate(t, birth, func(m map[string]any) {
			data(m)["parents"] = []any{map[string]any{"citizenId": ""}}
		}), events.ReasonMissingField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := events.Decode(c.value, nil, now)
			r, ok := events.AsRejection(err)
			if !ok {
				t.Fatalf("want rejection %s, got %v", c.code, err)
			}
			if r.Code != c.code {
				t.Fatalf("code = %s (%s), want %s", r.Code, r.Message, c.code)
			}
			if r.Message == "" || strings.Contains(r.Message, "Erika") {
				t.Fatalf("message %q is empty or leaks personal data", r.Message)
			}
		})
	}
}

func TestKeyHidesCitizen(t *testing.T) {
	k1 := events.Key([]byte("secret"), "c-1001")
	if strings.Contains(string(k1), "1001") || len(k1) != 32 {
		t.Fatalf("key %q", k1)
	}
	if string(k1) != string(events.Key([]byte("secret"), "c-1001")) {
		t.Fatal("key not stable")
	}
	if string(k1) == string(events.Key([]byte("other"), "c-1001")) {
		t.Fatal("key does not depend on the secret")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(readExample(f, "move.json"), false)
	f.Add(readExample(f, "birth.json"), false)
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"s","type":"lifeevents.move.registered.v1","data":{}}`), false)
	f.Add([]byte(`{"citizenId":"c-1","householdId":"h","movedOn":"2026-11-01"}`), true)
	f.Add([]byte(`null`), false)
	f.Fuzz(func(t *testing.T, value []byte, binary bool) {
		var headers map[string]string
		if binary {
			headers = map[string]string{"ce_specversion": "1.0", "ce_id": "f", "ce_source": "s", "ce_type": events.TypeMove}
		}
		e, err := events.Decode(value, headers, now)
		if err != nil {
			if r, ok := events.AsRejection(err); !ok || r.Code == "" || r.Message == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if (e.Move == nil) == (e.Birth == nil) || e.ID == "" || e.Subject() == "" {
			t.Fatalf("accepted an incomplete event: %+v", e)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	raw := readExample(b, "move.json")
	b.ReportAllocs()
	for range b.N {
		if _, err := events.Decode(raw, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
