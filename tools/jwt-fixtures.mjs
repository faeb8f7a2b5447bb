// Makes the JWT fixtures the conformance suite verifies, with `jose`: an implementation
// independent of both the suite's signer and the server's. Run from the repository root:
//   node tools/jwt-fixtures.mjs
// It writes conformance/fixtures/jose.json. The private keys are not kept.
import { writeFileSync } from "node:fs";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, base64url } from "jose";
import { createHmac } from "node:crypto";

const ISSUER = "https://fixture.clerk.accounts.dev";
const KID = "fixture-rsa-1";
const FAR = 4102444800; // 2100-01-01
const NOW = 1795824000; // 2026-11-28

const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
const other = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg: "RS256", use: "sig" };

const sign = (claims, { kid = KID, key = privateKey } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).sign(key);

const base = { sub: "user_fixture", iss: ISSUER, iat: NOW, nbf: NOW, exp: FAR, azp: "http://localhost:5173" };

const valid = await sign(base);
const [h, p, s] = valid.split(".");
const tamperedPayload = base64url.encode(JSON.stringify({ ...base, sub: "user_admin" }));

// HS256 signed with the RSA public key's PEM-free JWK text as the secret: the classic
// algorithm-confusion attack.
const hsHeader = base64url.encode(JSON.stringify({ alg: "HS256", kid: KID, typ: "JWT" }));
const hsInput = `${hsHeader}.${p}`;
const hsSig = base64url.encode(createHmac("sha256", JSON.stringify(jwk)).update(hsInput).digest());

const fixtures = {
  issuer: ISSUER,
  allowedOrigin: "http://localhost:5173",
  validUserId: "user_fixture",
  jwks: { keys: [jwk] },
  tokens: {
    valid,
    expired: await sign({ ...base, iat: NOW - 7200, nbf: NOW - 7200, exp: NOW - 3600 }),
    notYetValid: await sign({ ...base, nbf: FAR - 100, iat: NOW }),
    wrongIssuer: await sign({ ...base, iss: "https://evil.clerk.accounts.dev" }),
    disallowedAzp: await sign({ ...base, azp: "https://evil.example" }),
    unknownKid: await sign(base, { kid: "not-published", key: other.privateKey }),
    otherKeySameKid: await sign(base, { key: other.privateKey }),
    algNone: new UnsecuredJWT(base).encode(),
    hs256WithPublicKey: `${hsInput}.${hsSig}`,
    tampered: `${h}.${tamperedPayload}.${s}`,
  },
};

writeFileSync("conformance/fixtures/jose.json", JSON.stringify(fixtures, null, 2) + "\n");
console.log("wrote conformance/fixtures/jose.json");
