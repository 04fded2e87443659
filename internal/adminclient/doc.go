// Package adminclient talks to the Portcullis admin REST API (/admin/v1):
// it finds out where the server is and which credential to use
// ([LoadConfig], [LoadEndpoint]), obtains and caches a management token with
// [oauthclient], and offers one typed method per route of the contract on
// [Client]. Non-2xx answers become an [*APIError] carrying the server's
// message.
//
// Configuration comes from, in order: flags ([Flags]), the environment
// (PORTCULLIS_ADDR, PORTCULLIS_CA, PORTCULLIS_DATA, PORTCULLIS_CLIENT_ID,
// PORTCULLIS_CLIENT_SECRET, PORTCULLIS_TENANT), and the admin credential
// file DATA/admin.json that `portcullis serve --dev` writes on first start.
package adminclient
