package secret

import (
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	h := HashPassword("Correct-horse1")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := CheckPassword(h, "Correct-horse1"); !ok || err != nil {
		t.Fatalf("right password rejected: %v", err)
	}
	if ok, _ := CheckPassword(h, "Correct-horse2"); ok {
		t.Fatal("wrong password accepted")
	}
	if h == HashPassword("Correct-horse1") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if _, err := CheckPassword("$2a$10$bcrypt", "x"); err != ErrMalformedHash {
		t.Fatalf("malformed hash: %v", err)
	}
}

func TestTokensAndCodes(t *testing.T) {
	k := Token("pk_live_", 32)
	if !strings.HasPrefix(k, "pk_live_") || len(k) != len("pk_live_")+43 {
		t.Fatalf("key %q", k)
	}
	if Token("x", 32) == Token("x", 32) {
		t.Fatal("tokens repeat")
	}
	for i := 0; i < 100; i++ {
		c := Code(6)
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q", c)
		}
	}
	if len(HexID(12)) != 24 {
		t.Fatal("HexID length")
	}
	if Hash("a") != "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" {
		t.Fatal("Hash is not SHA-256 hex")
	}
}
