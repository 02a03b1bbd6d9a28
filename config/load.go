package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
)

// Load reads the config file at path, expands ${ENV} references, decodes it strictly,
// applies defaults, resolves relative file paths against the file's directory and validates
// the result. Errors are *Error values with one line of text naming the file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{File: path, Msg: "config file not found"}
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data)
}

// Parse is Load for a file already read: path names the file in messages and is the base
// for relative file paths in it.
func Parse(path string, data []byte) (*Config, error) {
	d := newDecoder(path)
	root, err := d.parseYAML(data)
	if err != nil {
		return nil, err
	}
	cfg := defaults()
	if root != nil {
		if err := d.expandEnv(root); err != nil {
			return nil, err
		}
		if err := d.decode(root, reflect.ValueOf(cfg).Elem(), ""); err != nil {
			return nil, err
		}
	}
	cfg.Path = path
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	v := validator{d: d, dir: dir, c: cfg}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
