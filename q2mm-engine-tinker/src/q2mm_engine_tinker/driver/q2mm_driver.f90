! q2mm_driver: q2mm's persistent front end to the Tinker library (libtinker.a).
!
! This file is q2mm's own code (MIT), not Tinker's: it is compiled on the user's
! machine against the user's own Tinker build, so that one process serves a whole
! fit instead of one Tinker program start (0.3 s) per evaluation.
!
! Usage: q2mm_driver structure.xyz  (structure.key beside it, "parameters none").
! Tinker's own messages go to q2mm_driver.log in the working folder; stdout carries
! only this protocol, and Tinker's prompts read /dev/null. One command per line on stdin; every reply ends with "OK".
!
!   KEY                 re-read structure.key and assign the valence, van der Waals
!                       and electrostatic parameters again (see reassign below)
!   XYZ                 then n lines "x y z" (Angstrom): the coordinates
!   ENERGY              total and components (kcal/mol), one line
!   GRADIENT            energy, then n lines of dE/dx (kcal/mol/Angstrom)
!   HESSIAN path        analytical Hessian (kcal/mol/Angstrom^2), 3n x 3n doubles
!                       written to path as raw stream (column-major = row-major,
!                       the matrix is symmetric)
!   MINIMIZE grdmin maxiter
!                       Tinker's L-BFGS from the current coordinates to an RMS
!                       gradient per atom below grdmin; replies "energy calls", then
!                       n lines of coordinates
!   QUIT
module q2mm_driver_state
  implicit none
  integer :: calls = 0
end module q2mm_driver_state

program q2mm_driver
  use atoms, only: n, x, y, z
  use energi
  use inform, only: silent, verbose, debug, iprint, iwrite
  use iounit, only: iout, input
  use minima, only: maxiter, fctmin
  use output, only: coordtype
  use scales, only: scale, set_scale
  use q2mm_driver_state, only: calls
  implicit none
  integer :: i, log_unit, null_unit, maxit, ios, freeunit
  real(8) :: e, grdmin, minimum, energy, drv_fg
  real(8), allocatable :: derivs(:, :), xx(:)
  character(len=240) :: line, word, rest
  external energy, drv_fg, drv_save, freeunit

  call initial
  log_unit = freeunit()
  open (unit=log_unit, file='q2mm_driver.log', status='replace')
  iout = log_unit
  ! Tinker asks on its input unit for what it lacks; it must never read this protocol
  null_unit = freeunit()
  open (unit=null_unit, file='/dev/null', status='old', action='read')
  input = null_unit
  silent = .true.
  verbose = .false.
  debug = .false.
  call getxyz
  call mechanic
  allocate (derivs(3, n), xx(3*n))
  write (*, '(a,i0)') 'READY ', n
  flush (6)
  do
    read (*, '(a)', iostat=ios) line
    if (ios /= 0) exit
    line = adjustl(line)
    i = index(line, ' ')
    word = line(:i-1)
    rest = line(i+1:)
    select case (trim(word))
    case ('KEY')
      call getkey
      call reassign
    case ('XYZ')
      do i = 1, n
        read (*, *) x(i), y(i), z(i)
      end do
    case ('ENERGY')
      e = energy()
      write (*, '(15es25.16e3)') e, eb, ea, eba, eub, eaa, eopb, eid, eit, et, ebt, ev, ec, ecd, ed
    case ('GRADIENT')
      call gradient(e, derivs)
      write (*, '(es25.16e3)') e
      write (*, '(3es25.16e3)') derivs
    case ('HESSIAN')
      call write_hessian(trim(adjustl(rest)))
    case ('MINIMIZE')
      read (rest, *) grdmin, maxit
      do i = 1, n
        xx(3*i-2) = x(i)
        xx(3*i-1) = y(i)
        xx(3*i) = z(i)
      end do
      coordtype = 'CARTESIAN'
      iprint = 0
      iwrite = 0
      maxiter = maxit
      fctmin = -1.0d8
      if (allocated(scale)) deallocate (scale)
      allocate (scale(3*n))
      scale = 1.0d0
      set_scale = .true.
      calls = 0
      call lbfgs(3*n, xx, minimum, grdmin, drv_fg, drv_save)
      do i = 1, n
        x(i) = xx(3*i-2)
        y(i) = xx(3*i-1)
        z(i) = xx(3*i)
      end do
      write (*, '(es25.16e3,1x,i0)') minimum, calls
      write (*, '(3es25.16e3)') (x(i), y(i), z(i), i = 1, n)
    case ('QUIT')
      exit
    case default
      write (*, '(a,a)') 'ERROR unknown command: ', trim(word)
    end select
    write (*, '(a)') 'OK'
    flush (6)
    flush (log_unit)
  end do
end program q2mm_driver

! New parameter values for the same structure and the same kinds of terms. Tinker's
! mechanic would also rebuild the topology and call initprm, whose MMFF tables
! (initmmff: tens of arrays of 10^6 entries) cost ~150 ms per call. Only the routines
! that read parameter lines are needed: each replaces the table entry with the same
! atom classes in place (every atom has its own class, and the keyfile names the same
! classes every time) and then assigns every term's parameters afresh. The test suite
! checks that the result equals a fresh start bit for bit (which found kvdw's rad4).
subroutine reassign
  use kvdws, only: rad4, eps4
  implicit none
  call kbond
  call kangle
  call kstrbnd
  call kurey
  call kopbend
  call kimprop
  call kimptor
  call ktors
  call kcharge
  call kdipole
  ! kvdw fills unset 1-4 radii and depths from the plain ones; a fresh start has none
  rad4 = 0.0d0
  eps4 = 0.0d0
  call kvdw
end subroutine reassign

! Tinker's sparse upper-triangle Hessian (hessian.f) expanded to the full matrix.
subroutine write_hessian(path)
  use atoms, only: n
  implicit none
  character(len=*), intent(in) :: path
  integer :: i, j, k, row, u
  integer, allocatable :: hinit(:, :), hstop(:, :), hindex(:)
  real(8), allocatable :: h(:), hdiag(:, :), full(:, :)
  allocate (hinit(3, n), hstop(3, n), hindex(3*n*(3*n-1)/2), h(3*n*(3*n-1)/2))
  allocate (hdiag(3, n), full(3*n, 3*n))
  call hessian(h, hinit, hstop, hindex, hdiag)
  full = 0.0d0
  do i = 1, n
    do j = 1, 3
      row = 3*(i-1) + j
      full(row, row) = hdiag(j, i)
      do k = hinit(j, i), hstop(j, i)
        full(row, hindex(k)) = h(k)
        full(hindex(k), row) = h(k)
      end do
    end do
  end do
  open (newunit=u, file=path, access='stream', form='unformatted', status='replace')
  write (u) full
  close (u)
end subroutine write_hessian

! Energy and gradient at the flat coordinates xx, for Tinker's lbfgs.
function drv_fg(xx, g) result(e)
  use atoms, only: n, x, y, z
  use q2mm_driver_state, only: calls
  implicit none
  real(8) :: xx(*), g(*), e
  real(8), allocatable :: d(:, :)
  integer :: i
  do i = 1, n
    x(i) = xx(3*i-2)
    y(i) = xx(3*i-1)
    z(i) = xx(3*i)
  end do
  allocate (d(3, n))
  call gradient(e, d)
  g(1:3*n) = reshape(d, [3*n])
  calls = calls + 1
end function drv_fg

! lbfgs reports progress through this; the driver keeps nothing per iteration.
subroutine drv_save(ncycle, f, xx)
  implicit none
  integer :: ncycle
  real(8) :: f, xx(*)
end subroutine drv_save
