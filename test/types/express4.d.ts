// The devDependency `express4` is Express 4 under another name, for the tests that run both
// Express lines; its types are those of `express` (the parts the tests use did not change).
declare module 'express4' {
  import express = require('express');
  export = express;
}
