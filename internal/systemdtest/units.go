package systemdtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StockUnitDir is where systemd's own units are installed.
const StockUnitDir = "/lib/systemd/system"

// StockTargets are the targets a manager boots through to its default
// target, multi-user.target, and the sockets.target socket units are
// started by. Missing units they name (tmp.mount, rescue.target, ...) are
// just not found.
var StockTargets = []string{
	"basic.target", "local-fs.target", "multi-user.target", "paths.target", "shutdown.target",
	"slices.target", "sockets.target", "swap.target", "sysinit.target", "timers.target",
}

// CopyStockTargets copies StockTargets from StockUnitDir into dir, and
// makes multi-user.target its default.target.
func CopyStockTargets(dir string) error {
	for _, name := range StockTargets {
		data, err := os.ReadFile(filepath.Join(StockUnitDir, name))
		if err != nil {
			return fmt.Errorf("stock target: %w", err)
		}
		if err := writeFile(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return os.Symlink("multi-user.target", filepath.Join(dir, "default.target"))
}

// WriteDropIn writes a drop-in NAME.conf for unit into dir's unit.d/.
func WriteDropIn(dir, unit, name, content string) error {
	d := filepath.Join(dir, unit+".d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(d, name+".conf"), []byte(content))
}

// writeFile writes a new file, checking every error (a unit file cut
// short would load as something else).
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// CopyUnit copies the unit file at path into dir, byte for byte.
func CopyUnit(dir, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, filepath.Base(path)), data)
}
