// Package twilio connects WhatsApp numbers through Twilio's Programmable
// Messaging API: sends (POST /2010-04-01/Accounts/{sid}/Messages.json,
// form-encoded, with content templates by ContentSid), inbound and status
// webhooks (form posts signed with X-Twilio-Signature), media fetched with
// the account's credentials, and templates read from the Content API
// (/v1/ContentAndApprovals) with their WhatsApp approval.
//
// Every send carries a StatusCallback of the form
// {PARLEY_BASE_URL}/webhooks/twilio/{channel_id}?m={message_id}. Twilio
// posts each status of the message there, so the message ID comes back
// with every status (StatusUpdate.CallbackData), which reconciles a send
// whose answer was lost.
//
// Twilio's shared WhatsApp sandbox (+14155238886) works like any sender:
// connect it with the sandbox's number, and customers join it with
// "join <code>". The sandbox has no approved content templates of yours,
// so only free-form messages inside the 24-hour window go out from it.
package twilio
