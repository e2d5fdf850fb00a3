package sandbox

// Customer is a simulated WhatsApp user.
type Customer struct {
	Name     string
	WAID     string // digits, as WhatsApp reports them
	Language string
	// Opening is what they write first; Chatter what they write later;
	// Replies how they answer an agent.
	Opening string
	Chatter []string
	Replies []string
}

// Phone is the customer's E.164 number.
func (c Customer) Phone() string { return "+" + c.WAID }

// Customers are the simulated customers, in the languages of Parley's
// first users. The Brazilian number's WhatsApp ID lacks the ninth digit,
// as many real ones do, so the demo shows both forms meeting one contact.
var Customers = []Customer{
	{
		Name: "Ana Souza", WAID: "551187654321", Language: "pt_BR",
		Opening: "Olá! Fiz um pedido ontem e ainda não recebi o código de rastreio. Podem me ajudar?",
		Chatter: []string{"Alguma novidade sobre o meu pedido?", "Vocês entregam no sábado?", "Posso trocar o endereço de entrega?"},
		Replies: []string{"Obrigada! 😊", "Perfeito, fico no aguardo.", "Entendi, muito obrigada pela ajuda."},
	},
	{
		Name: "João Pereira", WAID: "351912345678", Language: "pt_PT",
		Opening: "Bom dia, queria saber o horário de funcionamento da loja de Lisboa.",
		Chatter: []string{"Têm estacionamento perto da loja?", "E ao domingo, estão abertos?"},
		Replies: []string{"Muito obrigado.", "Ótimo, passo lá amanhã.", "Combinado!"},
	},
	{
		Name: "Lucía Gómez", WAID: "34612345678", Language: "es",
		Opening: "Hola, ¿tienen este modelo en talla M? Lo vi en su web.",
		Chatter: []string{"¿Cuánto tarda el envío a Valencia?", "¿Puedo pagar contra reembolso?"},
		Replies: []string{"¡Genial, gracias!", "Perfecto, lo compro entonces.", "Vale, muchas gracias."},
	},
	{
		Name: "Carlos Hernández", WAID: "5215512345678", Language: "es_MX",
		Opening: "Buenas tardes, quiero cancelar mi suscripción, ¿cómo le hago?",
		Chatter: []string{"¿Me pueden mandar la factura por aquí?", "Sigo esperando respuesta 🙏"},
		Replies: []string{"Órale, gracias.", "Va, quedo al pendiente.", "Muchas gracias por la atención."},
	},
	{
		Name: "Emily Carter", WAID: "14155550123", Language: "en_US",
		Opening: "Hi! I'd like to book a demo for my team next week.",
		Chatter: []string{"Is Tuesday afternoon possible?", "Could you also send the pricing sheet?"},
		Replies: []string{"Thanks, that works!", "Great, talk soon.", "Perfect 👍"},
	},
}
