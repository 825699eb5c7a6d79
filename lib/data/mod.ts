/**
 * Datasets: the validated `SpikeDataset`, the synthetic Lorenz data, and loaders for NLB/NWB HDF5, MATLAB, NumPy and continuous recordings.
 *
 * @module
 */
export * from "./arrays_dataset.ts";
export * from "./dataset.ts";
export * from "./dataset_json.ts";
export * from "./hdf5.ts";
export * from "./load.ts";
export * from "./lorenz.ts";
export * from "./mat.ts";
export * from "./multi_file.ts";
export * from "./ndarray.ts";
export * from "./nlb.ts";
export * from "./npy.ts";
export * from "./nwb.ts";
export * from "./windows.ts";
