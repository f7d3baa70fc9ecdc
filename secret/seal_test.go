package secret

import (
	"bytes"
	"testing"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, MasterKeyLen)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("123456"), "code|app_1|u1")
	if bytes.Contains([]byte(sealed), []byte("123456")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := s.Open(sealed, "code|app_1|u1")
	if err != nil || string(got) != "123456" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "code|app_2|u1"); err != ErrUnseal {
		t.Fatalf("other context opened: %v", err)
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, MasterKeyLen))
	if _, err := other.Open(sealed, "code|app_1|u1"); err != ErrUnseal {
		t.Fatalf("other master key opened: %v", err)
	}
	if _, err := s.Open("not base64!", "x"); err != ErrUnseal {
		t.Fatalf("garbage: %v", err)
	}
	if s.Seal([]byte("x"), "c") == s.Seal([]byte("x"), "c") {
		t.Fatal("two seals are equal: nonce reused")
	}
	if s.MAC("a", "b") != s.MAC("a", "b") || s.MAC("a", "b") == other.MAC("a", "b") {
		t.Fatal("MAC not keyed or not deterministic")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := MasterKeyFromString("too short"); err == nil {
		t.Fatal("short master key string accepted")
	}
}
