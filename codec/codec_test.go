package codec_test

import (
	"bytes"
	"testing"

	"github.com/lifeevents/lifeevents/codec"
)

func TestRoundTripHidesPlaintext(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	dc := c.DataConverter()
	p, err := dc.ToPayload(map[string]string{"citizenId": "c-1001", "street": "Am Markt"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := p.Marshal()
	if bytes.Contains(raw, []byte("c-1001")) || bytes.Contains(raw, []byte("Am Markt")) {
		t.Fatal("encoded payload holds plaintext")
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["citizenId"] != "c-1001" {
		t.Fatalf("decoded %v %v", back, err)
	}
	other, _ := codec.New(bytes.Repeat([]byte{8}, 32))
	if err := other.DataConverter().FromPayload(p, &back); err == nil {
		t.Fatal("another key decoded the payload")
	}
	if _, err := codec.New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
