// Package mongotest gives tests a MongoDB to talk to: a real server when
// EVENTBASE_TEST_MONGODB_URI is set, otherwise jongodb, an in-memory
// wire-compatible server shipped as a native binary in an npm package, which
// this helper fetches with `npm pack` into the user cache directory, checks
// against the sha256 its package.json records, and runs on a free loopback
// port for the life of the test binary.
package mongotest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	pkgName    = "@jongodb/memory-server-bin-linux-x64-gnu"
	pkgVersion = "0.1.6"
	// EnvURI points the tests at a real MongoDB instead of jongodb.
	EnvURI = "EVENTBASE_TEST_MONGODB_URI"
)

var (
	once     sync.Once
	baseURI  string
	setupErr error
	proc     *exec.Cmd
)

// URI returns a MongoDB URI for tests, starting jongodb on first use. When no
// server can be had it skips the test, except under CI (CI=true), where it
// fails: the MongoDB adapters must be proven there.
func URI(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURI, setupErr = start() })
	if setupErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mongotest: no MongoDB for tests: %v", setupErr)
		}
		t.Skipf("mongotest: no MongoDB for tests (%v); set %s to a real server or install npm to run them", setupErr, EnvURI)
	}
	return baseURI
}

// DBName returns a fresh database name, so tests sharing one server do not see
// each other's data.
func DBName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Stop ends jongodb if this process started it. Call it from TestMain after m.Run.
func Stop() {
	if proc != nil && proc.Process != nil {
		_ = proc.Process.Kill()
		_ = proc.Wait()
	}
}

// Main is a TestMain body that stops jongodb after the tests.
func Main(m interface{ Run() int }) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

func start() (string, error) {
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri, nil
	}
	bin, err := binary()
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start jongodb: %w", err)
	}
	proc = cmd
	uriCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, "JONGODB_URI=") {
				uriCh <- strings.TrimPrefix(line, "JONGODB_URI=")
				sent = true
			}
		}
	}()
	select {
	case uri := <-uriCh:
		return uri, nil
	case <-time.After(30 * time.Second):
		Stop()
		return "", errors.New("jongodb did not print its URI within 30s")
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binary returns the path of a verified jongodb binary, fetching it once per
// user into the cache directory.
func binary() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "eventbase", "jongodb-"+pkgVersion)
	bin := filepath.Join(dir, "package", "bin", "jongodb")
	if verify(dir, bin) == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("npm is not installed, so jongodb cannot be fetched")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "pack")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", pkgName+"@"+pkgVersion)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm pack %s: %v: %s", pkgName, err, strings.TrimSpace(string(out)))
	}
	tgzs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgzs) != 1 {
		return "", errors.New("npm pack produced no tarball")
	}
	stage := filepath.Join(tmp, "x")
	if err := untar(tgzs[0], stage); err != nil {
		return "", err
	}
	if err := verify(stage, filepath.Join(stage, "package", "bin", "jongodb")); err != nil {
		return "", err
	}
	_ = os.RemoveAll(filepath.Join(dir, "package"))
	if err := os.Rename(filepath.Join(stage, "package"), filepath.Join(dir, "package")); err != nil {
		return "", err
	}
	return bin, verify(dir, bin)
}

// verify checks the binary against the sha256 in the package's package.json.
func verify(dir, bin string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "package", "package.json"))
	if err != nil {
		return err
	}
	var pj struct {
		Version string `json:"version"`
		Jongodb struct {
			Sha256 string `json:"sha256"`
		} `json:"jongodb"`
	}
	if err := json.Unmarshal(raw, &pj); err != nil {
		return err
	}
	if pj.Version != pkgVersion || pj.Jongodb.Sha256 == "" {
		return fmt.Errorf("unexpected jongodb package.json (version %q)", pj.Version)
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pj.Jongodb.Sha256 {
		return fmt.Errorf("jongodb sha256 mismatch: got %s, package.json says %s", got, pj.Jongodb.Sha256)
	}
	return nil
}

func untar(tgz, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("unsafe path in tarball: %s", h.Name)
		}
		p := filepath.Join(dst, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, io.LimitReader(tr, 64<<20)); err != nil {
				w.Close()
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
	}
}
