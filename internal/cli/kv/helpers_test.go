package kv_test

import (
	"bytes"
	"errors"

	"github.com/bevygap/bevygap/internal/cli/clitest"

	"github.com/bevygap/bevygap/internal/iostreams"
)

var errNotYet = errors.New("not yet")

func iostreamsTest() (*iostreams.IOStreams, *bytes.Buffer, *clitest.Buffer, *clitest.Buffer) {
	io, in, _, _ := iostreams.Test()
	out, errOut := &clitest.Buffer{}, &clitest.Buffer{}
	io.Out, io.ErrOut = out, errOut
	return io, in, out, errOut
}
