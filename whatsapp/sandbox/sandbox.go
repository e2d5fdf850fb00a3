// Package sandbox is a simulated WhatsApp network. It implements the
// provider port for channels of provider "sandbox": sends are "delivered"
// to simulated customers, who tick sent, delivered and read, and answer in
// their language; and it keeps a handful of customers writing in, so that
// `parley demo` shows a working inbox with nothing connected. Everything it
// reports goes through the same ingestion as a real provider's webhooks.
package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// Deliverer hands the network's events to Parley, as a webhook would.
type Deliverer func(ctx context.Context, ch *parley.Channel, b *whatsapp.Batch) error

// Pace sets the simulated delays. The zero Pace makes the network answer
// as soon as it can, for tests.
type Pace struct {
	Tick    time.Duration // between sent, delivered and read
	Reply   time.Duration // before a customer answers an agent
	Chatter time.Duration // average time between unprompted messages
}

// DemoPace feels like people on phones.
var DemoPace = Pace{Tick: 700 * time.Millisecond, Reply: 4 * time.Second, Chatter: 45 * time.Second}

// Network is the simulated WhatsApp network.
type Network struct {
	deliver Deliverer
	pace    Pace

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	media map[string]file
	fails []*whatsapp.Error
	sent  []Sent
}

type file struct {
	data     []byte
	mimeType string
}

// Sent is a message the network accepted.
type Sent struct {
	ID      string // the network's message ID
	Channel string
	To      string // the customer's WhatsApp ID
	// Outbound is what Parley asked for; Outbound.Message.ID is Parley's
	// message ID, which the network's statuses carry back.
	Outbound whatsapp.Outbound
}

// Interrupted, given to FailNext, makes a send go out while Parley is
// told the connection dropped: the case reconciliation exists for.
var Interrupted = &whatsapp.Error{Kind: whatsapp.Ambiguous, Code: "interrupted", Message: "sandbox: the connection dropped after the message was handed over"}

// Sent returns the messages the network accepted, oldest first.
func (n *Network) Sent() []Sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Sent(nil), n.sent...)
}

// FailNext makes the next sends fail with these errors, one each, as a
// provider would refuse them: for demos and tests of error handling.
func (n *Network) FailNext(errs ...*whatsapp.Error) {
	n.mu.Lock()
	n.fails = append(n.fails, errs...)
	n.mu.Unlock()
}

var _ whatsapp.Provider = (*Network)(nil)

// New returns a network that reports through deliver.
func New(deliver Deliverer, pace Pace) *Network {
	ctx, cancel := context.WithCancel(context.Background())
	return &Network{deliver: deliver, pace: pace, ctx: ctx, cancel: cancel, media: map[string]file{}}
}

// Close stops the simulation and waits for what is in flight.
func (n *Network) Close() {
	n.cancel()
	n.wg.Wait()
}

// after runs f after d, unless the network is closed first.
func (n *Network) after(d time.Duration, f func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			}
		}
		f(n.ctx)
	}()
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Send accepts a message for a customer and, like WhatsApp, reports its
// progress afterwards: sent, delivered, read, and an answer.
func (n *Network) Send(ctx context.Context, ch *parley.Channel, out *whatsapp.Outbound) (whatsapp.SendResult, error) {
	waid := out.To.WAID
	if waid == "" {
		waid = strings.TrimPrefix(out.ToPhone, "+")
	}
	if waid == "" {
		return whatsapp.SendResult{}, &whatsapp.Error{Kind: whatsapp.Rejected, Code: "131026", Message: "Message undeliverable: the recipient has no number."}
	}
	var fail *whatsapp.Error
	n.mu.Lock()
	if len(n.fails) > 0 {
		fail = n.fails[0]
		n.fails = n.fails[1:]
		if fail != Interrupted {
			n.mu.Unlock()
			return whatsapp.SendResult{}, fail
		}
	}
	id := newID("wamid.sandbox.")
	n.sent = append(n.sent, Sent{ID: id, Channel: ch.ID, To: waid, Outbound: *out})
	n.mu.Unlock()
	for i, st := range []parley.Status{parley.StatusSent, parley.StatusDelivered, parley.StatusRead} {
		n.after(time.Duration(i+1)*n.pace.Tick, func(ctx context.Context) {
			n.report(ctx, ch, &whatsapp.Batch{Statuses: []whatsapp.StatusUpdate{{Account: ch.AccountID, ProviderMessageID: id, Status: st,
				Timestamp: time.Now().UTC(), Recipient: whatsapp.Contact{WAID: waid}, CallbackData: out.Message.ID}}})
		})
	}
	if out.Message.Type != parley.TypeReaction {
		n.after(3*n.pace.Tick+n.pace.Reply, func(ctx context.Context) { n.answer(ctx, ch, waid, out, id) })
	}
	if fail != nil {
		return whatsapp.SendResult{}, fail
	}
	return whatsapp.SendResult{ProviderMessageID: id}, nil
}

// answer is the customer's reply: the button they tap, or a line in their
// language quoting the agent.
func (n *Network) answer(ctx context.Context, ch *parley.Channel, waid string, out *whatsapp.Outbound, replyTo string) {
	c := customerFor(waid)
	content := parley.Message{Type: parley.TypeText, Text: c.Replies[mrand.IntN(len(c.Replies))],
		Context: &parley.Context{ReplyToProviderID: replyTo}}
	if in := out.Message.Interactive; in != nil && in.Kind == "button" && len(in.Buttons) > 0 {
		b := in.Buttons[0]
		content = parley.Message{Type: parley.TypeInteractive, Reply: &parley.Reply{Kind: "button_reply", ID: b.ID, Title: b.Title},
			Context: &parley.Context{ReplyToProviderID: replyTo}}
	}
	n.inbound(ctx, ch, c, content)
}

// Write makes a customer send text to the channel now.
func (n *Network) Write(ctx context.Context, ch *parley.Channel, c Customer, text string) error {
	return n.inboundErr(ctx, ch, c, parley.Message{Type: parley.TypeText, Text: text})
}

// SendImage makes a customer send a picture, which Parley then downloads.
func (n *Network) SendImage(ctx context.Context, ch *parley.Channel, c Customer, caption string) error {
	return n.SendMedia(ctx, ch, c, parley.TypeImage, "image/png", picture(c.Name), caption)
}

// SendMedia makes a customer send a file of the given type.
func (n *Network) SendMedia(ctx context.Context, ch *parley.Channel, c Customer, typ parley.MessageType, mimeType string, data []byte, caption string) error {
	id := newID("sandbox-media-")
	n.mu.Lock()
	n.media[id] = file{data: data, mimeType: mimeType}
	n.mu.Unlock()
	return n.inboundErr(ctx, ch, c, parley.Message{Type: typ, Text: caption,
		Media: &parley.Media{ProviderMediaID: id, MIMEType: mimeType}})
}

// Report hands Parley events as if the network had sent them, retrying
// as a provider retries webhooks: tests use it to replay and reorder
// statuses.
func (n *Network) Report(ctx context.Context, ch *parley.Channel, b *whatsapp.Batch) error {
	return n.report(ctx, ch, b)
}

func (n *Network) inbound(ctx context.Context, ch *parley.Channel, c Customer, content parley.Message) {
	n.inboundErr(ctx, ch, c, content)
}

func (n *Network) inboundErr(ctx context.Context, ch *parley.Channel, c Customer, content parley.Message) error {
	content.ProviderMessageID = newID("wamid.sandbox.in.")
	content.Timestamp = time.Now().UTC()
	return n.report(ctx, ch, &whatsapp.Batch{Messages: []whatsapp.Message{{Account: ch.AccountID,
		Contact: whatsapp.Contact{WAID: c.WAID, ProfileName: c.Name}, Content: content}}})
}

// report delivers events, retrying for a while as a provider retries
// webhooks that fail.
func (n *Network) report(ctx context.Context, ch *parley.Channel, b *whatsapp.Batch) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = n.deliver(ctx, ch, b); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return err
}

// Simulate keeps customers writing to a channel until the network is
// closed: each opens a conversation, then now and then writes again.
func (n *Network) Simulate(ch *parley.Channel, customers int) {
	if customers > len(Customers) {
		customers = len(Customers)
	}
	for i, c := range Customers[:customers] {
		n.after(time.Duration(i)*n.pace.Tick, func(ctx context.Context) {
			n.Write(ctx, ch, c, c.Opening)
		})
	}
	if customers == 0 || n.pace.Chatter <= 0 {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			d := n.pace.Chatter/2 + time.Duration(mrand.Int64N(int64(n.pace.Chatter)))
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(d):
			}
			c := Customers[mrand.IntN(customers)]
			if mrand.IntN(5) == 0 {
				n.SendImage(n.ctx, ch, c, "")
				continue
			}
			n.Write(n.ctx, ch, c, c.Chatter[mrand.IntN(len(c.Chatter))])
		}
	}()
}

func customerFor(waid string) Customer {
	for _, c := range Customers {
		if c.WAID == waid {
			return c
		}
	}
	return Customer{Name: "+" + waid, WAID: waid, Language: "en_US", Replies: []string{"Thanks!", "OK 👍"}}
}

// MarkRead is accepted; the simulated customer sees blue ticks.
func (n *Network) MarkRead(ctx context.Context, ch *parley.Channel, providerMessageID string) error {
	return nil
}

// FetchMedia returns a file a simulated customer sent.
func (n *Network) FetchMedia(ctx context.Context, ch *parley.Channel, m *parley.Media) (io.ReadCloser, string, error) {
	n.mu.Lock()
	f, ok := n.media[m.ProviderMediaID]
	n.mu.Unlock()
	if !ok {
		return nil, "", &whatsapp.Error{Kind: whatsapp.Rejected, Code: "131052", Message: "Media download error: unknown media ID."}
	}
	return io.NopCloser(bytes.NewReader(f.data)), f.mimeType, nil
}

// Check always passes: the sandbox needs no credentials.
func (n *Network) Check(ctx context.Context, ch *parley.Channel) error { return nil }

// Templates are the sandbox's approved templates, in three languages.
func (n *Network) Templates(ctx context.Context, ch *parley.Channel) ([]parley.Template, error) {
	var out []parley.Template
	for _, t := range demoTemplates {
		t.ProviderTemplateID = fmt.Sprintf("sandbox-%s-%s", t.Name, t.Language)
		t.BodyParams = parley.Placeholders(t.Body)
		if t.Header != nil && t.Header.Format == "text" {
			t.Header.Params = parley.Placeholders(t.Header.Text)
		}
		t.Components, _ = json.Marshal(map[string]any{"body": t.Body})
		t.CountParameters()
		out = append(out, t)
	}
	return out, nil
}

var demoTemplates = []parley.Template{
	{Name: "order_update", Language: "pt_BR", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "positional",
		Body: "Olá {{1}}, seu pedido {{2}} saiu para entrega e chega hoje."},
	{Name: "order_update", Language: "es", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "positional",
		Body: "Hola {{1}}, tu pedido {{2}} está en camino y llega hoy."},
	{Name: "order_update", Language: "en_US", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "positional",
		Body: "Hi {{1}}, your order {{2}} is out for delivery and arrives today."},
	{Name: "welcome", Language: "pt_BR", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "named",
		Body: "Olá {{first_name}}! Obrigado por falar com a gente. Como podemos ajudar?"},
	{Name: "welcome", Language: "es", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "named",
		Body: "¡Hola {{first_name}}! Gracias por escribirnos. ¿En qué podemos ayudarte?"},
	{Name: "welcome", Language: "en_US", Category: parley.CategoryUtility, Status: parley.TemplateApproved, ParameterFormat: "named",
		Body: "Hi {{first_name}}! Thanks for reaching out. How can we help?"},
	{Name: "summer_sale", Language: "pt_BR", Category: parley.CategoryMarketing, Status: parley.TemplateApproved, ParameterFormat: "positional",
		Header: &parley.TemplateHeader{Format: "image"}, Body: "{{1}}, a liquidação de verão começou: até 40% de desconto!",
		Buttons: []parley.TemplateButton{{Type: "quick_reply", Text: "Quero ver"}, {Type: "quick_reply", Text: "Parar promoções"}}},
	{Name: "summer_sale", Language: "en_US", Category: parley.CategoryMarketing, Status: parley.TemplateApproved, ParameterFormat: "positional",
		Header: &parley.TemplateHeader{Format: "image"}, Body: "{{1}}, our summer sale is on: up to 40% off!",
		Buttons: []parley.TemplateButton{{Type: "quick_reply", Text: "Show me"}, {Type: "quick_reply", Text: "Stop promotions"}}},
	{Name: "spring_teaser", Language: "en_US", Category: parley.CategoryMarketing, Status: parley.TemplatePaused, ParameterFormat: "positional",
		Body: "Spring is coming, {{1}}!"},
}

// picture draws a small PNG, so the demo's media flow has real bytes.
func picture(seed string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	h := 0
	for _, r := range seed {
		h = h*31 + int(r)
	}
	c := color.RGBA{uint8(h), uint8(h >> 8), uint8(h >> 16), 255}
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if (x/8+y/8)%2 == 0 {
				img.Set(x, y, c)
			} else {
				img.Set(x, y, color.White)
			}
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}
