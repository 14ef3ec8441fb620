/* A VAE's weights as safetensors, named and laid out as the state_dict of
 * the equivalent PyTorch module (bench/safetensors_roundtrip.py, MLPVAE):
 *
 *   encoder.{2i}.weight   (h_i, in_i)  = enc_w[i]^T   (ours are (in, out))
 *   encoder.{2i}.bias     (h_i)        = enc_b[i]
 *   fc_mu.weight          (Z, H)       = head_w[:, 0:Z]^T   (our fused mu|logvar head
 *   fc_mu.bias            (Z)          = head_b[0:Z]         splits into two Linear layers)
 *   fc_logvar.weight      (Z, H)       = head_w[:, Z:2Z]^T
 *   fc_logvar.bias        (Z)          = head_b[Z:2Z]
 *   decoder.{2i}.weight   (out, in)    = dec_w[i]^T, i < n_hidden
 *   decoder.{2n}.weight   (D, h_0)     = out_w^T,  decoder.{2n}.bias = out_b
 *   lik_logvar            (D)          the learned per-pixel log-variance, if any
 *
 * (the odd Sequential indices are the activations). A convolutional model
 * (--encoder) is the ConvVAE of the same script: encoder.{2i} is layer i,
 * decoder.{2j} the decoder's layer j (decoder.{2n} the output), with
 *   Conv2d weight          (Cout, Cin, K, K)  = ours (K, K, Cin, Cout) permuted
 *   ConvTranspose2d weight (Cin, Cout, K, K)  = ours (K, K, Cout, Cin) permuted
 *   a Linear on (from) an image: its input (output) index is PyTorch's CHW
 *   flattening, ours HWC: index c*H*W + y*W + x is our (y*W + x)*C + c
 * and the head, biases and lik_logvar as above. A conditional model
 * takes [x, one-hot y] and [z, one-hot y] as inputs, in that order, as
 * torch.cat([x, y], 1) does. The file's metadata holds {"format": "pt",
 * "elbo.arch": the configuration JSON}. Activation and likelihood are not
 * in the tensors: loading checks names and shapes only. */
#ifndef ELBO_VAE_SAFETENSORS_H
#define ELBO_VAE_SAFETENSORS_H

#include "models/vae/vae.h"
#include "ops/error.h"

/* Write m's weights to path (atomically). */
elbo_status elbo_vae_save_safetensors(const elbo_vae *m, const char *path);
/* Load path's weights into m, whose architecture must give the same tensor
 * names and shapes: a missing, extra or misshapen tensor is
 * ELBO_ERR_MISMATCH, a non-finite weight ELBO_ERR_NONFINITE, both naming
 * the file and the tensor; on any error m is untouched. F16, BF16 and F64
 * tensors are converted. The optimizer state is not touched. */
elbo_status elbo_vae_load_safetensors(elbo_vae *m, const char *path);

#endif
