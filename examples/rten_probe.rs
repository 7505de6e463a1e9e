#![allow(clippy::unwrap_used, missing_docs)]
use rten::{Model, Value};
fn main() {
    let rec = Model::load_static_slice(xgen_ocr_models::RECOGNIZER.unwrap()).unwrap();
    let det = Model::load_static_slice(xgen_ocr_models::DETECTOR.unwrap()).unwrap();
    let cpu = || {
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        usage.ru_utime.tv_sec as f64 + usage.ru_utime.tv_usec as f64 / 1e6
    };
    let x = Value::from_shape([1usize, 3, 1664, 1280], vec![0.1f32; 3 * 1664 * 1280]).unwrap();
    let t = cpu();
    det.run_one(x.into(), None).unwrap();
    println!("det 1280x1664 cpu {:.2}", cpu() - t);
    let x = Value::from_shape([1usize, 3, 48, 1600], vec![0.1f32; 3 * 48 * 1600]).unwrap();
    let t = cpu();
    for _ in 0..5 {
        rec.run_one((&x).into(), None).unwrap();
    }
    println!("rec 48x1600 x5 cpu {:.2}", cpu() - t);
    let x = Value::from_shape([4usize, 3, 48, 1600], vec![0.1f32; 4 * 3 * 48 * 1600]).unwrap();
    let t = cpu();
    rec.run_one(x.into(), None).unwrap();
    println!("rec batch4 48x1600 cpu {:.2}", cpu() - t);
}
