package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley"
)

// TestBrowserComposer: quick replies by /shortcut, Shift+Enter for a new
// line, and attachments checked before upload and uploaded with progress.
func TestBrowserComposer(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.customerWrites(3, "Hello, what are your opening hours?")
	c.signIn(parley.RoleAgent)
	c.openConversation(c.customer(3).Name)
	outgoing := `document.querySelectorAll("#thread li.msg-out").length`

	// "/ho" offers the two shortcuts that start so, horario then hours; the
	// arrow picks the second, and Enter inserts it without sending.
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "/ho"))
	c.until("the quick replies are offered", `!document.querySelector("#quick-replies").hidden`)
	if n := eval[float64](c, `Array.from(document.querySelectorAll("#quick-replies li")).filter(li => !li.hidden).length`); n != 2 {
		t.Fatalf("%v quick replies offered for /ho, want hours and horario", n)
	}
	c.screenshot("8-quick-replies")
	c.run(press("ArrowDown"), press("Enter"))
	if got := eval[string](c, `document.querySelector("#composer-text").value`); got != "We are open Monday to Friday, 9:00–18:00." {
		t.Fatalf("the quick reply inserted %q", got)
	}
	if n := eval[float64](c, outgoing); n != 0 {
		t.Fatalf("choosing a quick reply sent a message")
	}

	// Shift+Enter starts a new line; Enter sends both lines as one message.
	c.run(press("Enter", chromedp.ModifierShift), chromedp.KeyEvent("Regards."))
	if got := eval[string](c, `document.querySelector("#composer-text").value`); !strings.HasSuffix(got, "18:00.\nRegards.") {
		t.Fatalf("Shift+Enter left %q", got)
	}
	if n := eval[float64](c, outgoing); n != 0 {
		t.Fatalf("Shift+Enter sent the message")
	}
	c.run(press("Enter"))
	c.until("the two-line reply is sent", `Array.from(document.querySelectorAll("#thread li.msg-out .text")).some(e => e.textContent.endsWith("18:00.\nRegards."))`)
	// The customer answers while the agent looks: the conversation stays read.
	c.until("the answer arrives and is read at once", `document.querySelectorAll("#thread li.msg-in").length === 2 &&
		document.querySelector("#inbox-list li.active .row-preview").textContent === Array.from(document.querySelectorAll("#thread li.msg-in .text")).pop().textContent && !document.querySelector("#inbox-list li.active .badge")`)

	// Files WhatsApp would refuse are refused before they are uploaded.
	dir := t.TempDir()
	tooBig := filepath.Join(dir, "scan.png")
	writePNG(t, tooBig, 1400, 1400) // noise does not compress: over 5 MB
	if fi, _ := os.Stat(tooBig); fi.Size() <= 5<<20 {
		t.Fatalf("the test image is only %d bytes", fi.Size())
	}
	c.settled()
	c.run(chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{tooBig}))
	c.until("the size is refused", `document.querySelector("#alerts").textContent.includes("5 MB")`)
	wav := filepath.Join(dir, "voice.wav")
	if err := os.WriteFile(wav, []byte("RIFF....WAVEfmt "), 0o644); err != nil {
		t.Fatal(err)
	}
	c.run(chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{wav}))
	c.until("the type is refused", `document.querySelector("#alerts").textContent.includes("does not accept")`)
	if n := eval[float64](c, outgoing); n != 1 {
		t.Fatalf("a refused file was sent (%v outgoing messages)", n)
	}

	// A photo on a slow connection shows its progress, then the thumbnail.
	photo := filepath.Join(dir, "shelf.png")
	writePNG(t, photo, 500, 500)
	err := chromedp.Do(c.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: 256 << 10}}})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Our shelf"))
	c.run(chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{photo}))
	c.until("the upload shows its progress", `(p => !p.closest(".upload").hidden && p.value > 0 && p.value < 100)(document.querySelector("#upload-progress"))`)
	c.screenshot("8-upload-progress")
	c.until("the photo is in the thread", `!!document.querySelector("#thread li.msg-out img.thumb") && document.querySelector(".upload").hidden`)
	c.until("the photo has loaded", `document.querySelector("#thread li.msg-out img.thumb").complete && document.querySelector("#thread li.msg-out img.thumb").naturalWidth === 500`)
	if alt := eval[string](c, `document.querySelector("#thread li.msg-out img.thumb").alt`); alt != "Our shelf" {
		t.Errorf("the photo's caption is %q", alt)
	}
	if got := eval[string](c, `document.querySelector("#composer-text").value`); got != "" {
		t.Errorf("the composer kept the caption %q after sending", got)
	}
	c.screenshot("8-photo-sent")
}

// writePNG writes a w×h image of noise, which PNG cannot shrink.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
