package acs

import "encoding/base64"

// HMAC exposes the signature primitive to the published vectors.
func HMAC(msg []byte, key string) string {
	secret, _ := base64.StdEncoding.DecodeString(key)
	return signature(msg, secret)
}
