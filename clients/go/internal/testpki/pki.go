// Package testpki makes a private CA with openssl, and the certificates it
// signs, for the TLS tests: what a cert-manager Issuer would hand out.
package testpki

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var newKey = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"}

// Issued is a PEM certificate and its key.
type Issued struct{ CertFile, KeyFile string }

// PEM returns the certificate's and the key's contents.
func (i Issued) PEM(t testing.TB) (cert, key []byte) {
	t.Helper()
	cert, err := os.ReadFile(i.CertFile)
	if err == nil {
		key, err = os.ReadFile(i.KeyFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// CA is a certificate authority in a directory of its own.
type CA struct {
	Issued
	dir   string
	count int
}

// NewCA makes a CA with an EC P-256 key, valid for a day.
func NewCA(t testing.TB, commonName string) *CA {
	t.Helper()
	dir := t.TempDir()
	ca := &CA{dir: dir, Issued: Issued{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")}}
	args := append([]string{"req", "-x509"}, newKey...)
	args = append(args, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN="+commonName,
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	if err := ca.openssl(args...); err != nil {
		t.Fatal(err)
	}
	return ca
}

// Server issues a certificate for a sidecar at 127.0.0.1 / localhost.
func (ca *CA) Server(t testing.TB) Issued {
	t.Helper()
	return ca.must(t)(ca.issue("sessionstore", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"))
}

// Client issues a certificate a bridge presents for mTLS.
func (ca *CA) Client(t testing.TB, commonName string) Issued {
	t.Helper()
	return ca.must(t)(ca.issue(commonName, "extendedKeyUsage=clientAuth\n"))
}

func (ca *CA) must(t testing.TB) func(Issued, error) Issued {
	return func(issued Issued, err error) Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return issued
	}
}

func (ca *CA) issue(commonName, extensions string) (Issued, error) {
	ca.count++
	name := fmt.Sprintf("leaf-%d", ca.count)
	if err := os.WriteFile(filepath.Join(ca.dir, name+".ext"), []byte(extensions), 0o600); err != nil {
		return Issued{}, err
	}
	serial := make([]byte, 8)
	if _, err := rand.Read(serial); err != nil {
		return Issued{}, err
	}
	if err := ca.openssl(append(append([]string{"req"}, newKey...), "-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+commonName)...); err != nil {
		return Issued{}, err
	}
	if err := ca.openssl("x509", "-req", "-in", name+".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "0x"+hex.EncodeToString(serial),
		"-out", name+".crt", "-days", "1", "-extfile", name+".ext"); err != nil {
		return Issued{}, err
	}
	return Issued{filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")}, nil
}

func (ca *CA) openssl(args ...string) error {
	cmd := exec.Command("openssl", args...)
	cmd.Dir = ca.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("openssl %s: %w: %s", args[0], err, out)
	}
	return nil
}
