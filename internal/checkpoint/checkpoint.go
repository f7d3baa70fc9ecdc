// Package checkpoint keeps the position of a log follower whose effects
// leave the system (mail, webhooks) in a file of the data directory: unlike
// read-model checkpoints, it must survive a rebuild of the read models, or
// every mail and hook would go out again.
package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is a checkpoint file.
type File string

// Load returns the saved position (0 when none was saved).
func (f File) Load() (int64, error) {
	raw, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
}

// Save writes pos durably: temp file, fsync, rename, fsync of the directory.
func (f File) Save(pos int64) error {
	tmp := string(f) + ".tmp"
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := w.WriteString(strconv.FormatInt(pos, 10)); err != nil {
		w.Close()
		return err
	}
	if err := w.Sync(); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, string(f)); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(string(f))); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
