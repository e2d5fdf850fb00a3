package parley

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	in := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &Conversation{LastInboundAt: in}
	for _, tt := range []struct {
		now  time.Time
		open bool
	}{
		{in, true},
		{in.Add(23*time.Hour + 59*time.Minute), true},
		{in.Add(24 * time.Hour), false},
		{in.Add(48 * time.Hour), false},
	} {
		if got := c.WindowOpen(tt.now); got != tt.open {
			t.Errorf("WindowOpen(%v) = %v, want %v", tt.now.Sub(in), got, tt.open)
		}
	}
	if (&Conversation{}).WindowOpen(in) {
		t.Error("a conversation with no inbound message has an open window")
	}
}

func TestIsOptOut(t *testing.T) {
	for _, tt := range []struct {
		text string
		kw   []string
		want bool
	}{
		{"STOP", nil, true},
		{"stop", nil, true},
		{"  Stop!  ", nil, true},
		{"Parar.", nil, true},
		{"sair", nil, true},
		{"Baja", nil, true},
		{"cancelár", nil, true},
		{"CANCELAR", nil, true},
		{"unsubscribe", nil, true},
		{"Stop promotions", nil, true},
		{"please stop calling me", nil, false},
		{"stopped", nil, false},
		{"", nil, false},
		{"!!!", nil, false},
		{"basta", []string{"BASTA"}, true},
		{"stop", []string{"BASTA"}, false},
		{"Não quero", []string{"nao quero"}, true},
	} {
		if got := IsOptOut(tt.text, tt.kw); got != tt.want {
			t.Errorf("IsOptOut(%q, %v) = %v, want %v", tt.text, tt.kw, got, tt.want)
		}
	}
}

func TestStatusNeverMovesBack(t *testing.T) {
	order := []Status{StatusQueued, StatusSending, StatusSent, StatusFailed, StatusDelivered, StatusRead}
	for i, a := range order {
		for j, b := range order {
			if got, want := a.Advances(b), j > i; got != want {
				t.Errorf("%s.Advances(%s) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestCheckMedia(t *testing.T) {
	for _, tt := range []struct {
		typ  MessageType
		mime string
		size int64
		ok   bool
	}{
		{TypeImage, "image/jpeg", 1 << 20, true},
		{TypeImage, "image/png", 5 << 20, true},
		{TypeImage, "image/png", 5<<20 + 1, false},
		{TypeImage, "image/gif", 100, false},
		{TypeAudio, "audio/ogg; codecs=opus", 1000, true},
		{TypeVideo, "video/mp4", 17 << 20, false},
		{TypeDocument, "application/pdf", 99 << 20, true},
		{TypeDocument, "application/pdf", 101 << 20, false},
		{TypeSticker, "image/webp", 400 << 10, true},
		{TypeSticker, "image/png", 10, false},
		{TypeText, "text/plain", 10, false},
		{TypeImage, "image/jpeg", 0, false},
	} {
		err := CheckMedia(tt.typ, tt.mime, tt.size)
		if (err == nil) != tt.ok {
			t.Errorf("CheckMedia(%s, %s, %d) = %v, want ok=%v", tt.typ, tt.mime, tt.size, err, tt.ok)
		} else if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("CheckMedia error code = %s", ErrorCode(err))
		}
	}
}

// TestIsOptOutConcurrent: ingestion checks messages from several
// goroutines at once (go test -race).
func TestIsOptOutConcurrent(t *testing.T) {
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 200 {
				ok = ok && IsOptOut("cancelár", nil) && !IsOptOut("Olá, mensagem número 7", nil)
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Fatal("a concurrent call gave a wrong answer")
		}
	}
}

func TestParseRecord(t *testing.T) {
	for in, want := range map[string]string{
		"lead:3F2C9A4E-1B7D-4C8E-9F00-2A6B5C4D3E21":      "lead:3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21",
		"Contact:{3F2C9A4E-1B7D-4C8E-9F00-2A6B5C4D3E21}": "contact:3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21",
		"new_student:A-1001":                             "new_student:A-1001",
		" deals:987 ":                                    "deals:987",
	} {
		r, err := ParseRecord(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRecord(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "lead", "lead:", ":123", "lead:a b", "1lead:1", "lead:<script>", "le-ad:1"} {
		if _, err := ParseRecord(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParseRecord(%q) accepted: %v", bad, err)
		}
	}
}
