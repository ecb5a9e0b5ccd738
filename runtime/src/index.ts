export { type Scored, type Tensor, topk } from './tensor.js';
