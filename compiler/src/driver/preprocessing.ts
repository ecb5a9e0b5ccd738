import type { PreprocessSpec } from '../../../runtime/src/package/preprocess.js';

/**
 * The reference evaluation's preprocessing for a model input (torchvision's ImageNet recipe: resize
 * the shorter side to round(S x 232/224), center crop S x S, ImageNet mean and std): what a package's
 * `preprocess` bakes in and what `polyc eval` applies, from one definition.
 */

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** The spec for a per-image input shape ([C, H, W]), or null when it is not a 3-channel square image. */
export function imagePreprocessing(inputShape: readonly number[]): PreprocessSpec | null {
  const [channels, height, width] = inputShape;
  if (inputShape.length !== 3 || channels !== 3 || height !== width || height === undefined) return null;
  return { size: height, resize: Math.round((height * 232) / 224), mean: IMAGENET_MEAN, std: IMAGENET_STD };
}
